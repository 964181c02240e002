import Database from 'better-sqlite3';
import { monoNow } from '../shared/mono-clock.js';

export type ReadDb = Database.Database;

/**
 * Address space the front's reader maps of the data file, while it maps it (ReaderMap). A point
 * read past the value cache is then memory loads instead of a pread of each page missing from
 * SQLite's own 16 MB page cache: GET over 100,000 keys of 1 KB, a miss 9.4 µs of the front's
 * thread mapped against 32 read. Virtual until touched; the pages touched are the kernel's file
 * cache, shared with the writer and reclaimable, so idle RSS does not grow. WAL pages are read as
 * before; a data file past 1 GiB is read past that point by pread.
 */
const READER_MMAP_BYTES = 1 << 30;
/**
 * Read statements per write, at least, for the map to pay (see ReaderMap): a statement saves a
 * few page reads of ~3.5 µs, a read transaction after a write costs the map ~60–360 µs.
 */
const MAP_READS_PER_WRITE = 100;
/** Writes a second below which the map stays (they cost it at most a few ms a second: an idle server's own jobs). */
const MAP_MIN_WRITES_PER_S = 20;
/** How often the reader looks again at whether to map the file, ms. */
const MAP_WINDOW_MS = 1000;

/**
 * Whether the front's reader maps the data file, decided each second from the second before. A
 * read transaction that begins after another connection committed drops the connection's pages
 * and, mapped, unmaps the whole file (SQLite's pagerBeginReadTransaction): the next reads fault
 * the pages back in. Beside a stream of writes that costs more than it saves — an edit hook
 * that takes a lease, 8 sessions: 251 µs of the front's thread mapped against 179 read (the first
 * read after each commit ~60 µs more in a bare better-sqlite3 loop, more in the server's larger
 * mapping) — while reads past the value cache with no write between them are 3–4× cheaper mapped.
 * So: mapped while the reads outnumber the writes (reply batches) MAP_READS_PER_WRITE to one, or
 * the writes are too few to matter.
 */
export class ReaderMap {
  private reads = 0;
  private writes = 0;
  private since = monoNow();
  private on = true;
  /** Times the reader switched between mapped and read (`koor_reader_map_switches_total`). */
  switches = 0;

  constructor(
    private readonly db: ReadDb,
    private readonly windowMs = MAP_WINDOW_MS,
  ) {
    db.pragma(`mmap_size = ${READER_MMAP_BYTES}`);
  }

  get mapped(): boolean {
    return this.on;
  }

  /** A read statement ran. */
  read(): void {
    this.reads++;
  }

  /** A write committed (a batch of the writer's replies). */
  wrote(): void {
    this.writes++;
  }

  /** Before a read transaction begins (the pragma runs outside one): a window ended decides. */
  decide(): void {
    const now = monoNow();
    if (now - this.since < this.windowMs) return;
    const on = (this.writes * 1000) / (now - this.since) < MAP_MIN_WRITES_PER_S || this.reads >= this.writes * MAP_READS_PER_WRITE;
    this.since = now;
    this.reads = 0;
    this.writes = 0;
    if (on === this.on) return;
    this.on = on;
    this.switches++;
    this.db.pragma(`mmap_size = ${on ? READER_MMAP_BYTES : 0}`);
  }
}

/**
 * The front process's read-only connection (WAL readers never block the writer). Point reads
 * are microseconds; anything heavier goes to the pool.
 */
export function openReader(file: string): ReadDb {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}
