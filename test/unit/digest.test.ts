import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import t from 'tap';
import { digestText, tokenEstimate } from '../../src/domains/hooks/digest.js';

/**
 * The digest's token estimate (src/domains/hooks/digest.ts) bounds the real o200k count from
 * above for what digests hold — names, paths, quoted subjects, ids — and for the text a budget is
 * easiest to blow with: long runs of one letter, other scripts, emoji. digestText keeps any
 * mix of lines within its budget by the real count.
 */
const enc = new Tiktoken(o200k_base);
const tokens = (s: string): number => enc.encode(s).length;

const SAMPLES = [
  'Koor:\n- 2 new messages: agent-a: "users contract" (#12, ack requested); ben: "please regenerate the client" (#13). Read: koor-cli inbox',
  'agent-c leased src/api/*.ts ("api refactor"), covering src/api/users.ts you edited. Coordinate before editing it again: koor-cli send <name> "<text>"',
  'claude-shop-0e3c7a52 claude-a-repository-with-a-rather-long-name-5f00ba11 3b788df5-2e33-4f13-abc9-bec3d665d53f',
  'x'.repeat(500),
  's'.repeat(77) + '…',
  'r'.repeat(300) + ' ' + 't'.repeat(300),
  'aaaa bbbb cccc dddd eeee ffff '.repeat(20),
  '0123456789'.repeat(40),
  '请重新生成客户端，用户接口已经更改。'.repeat(10),
  'Пожалуйста, обновите клиент: контракт /users изменился.'.repeat(5),
  '🚀🔥✅ build is green — ship it! 🎉'.repeat(10),
  '{"a":[1,2,3],"b":{"c":"d"}} ;;;;;:::::,,,,,.....!!!!!'.repeat(10),
  '/home/ann/work/shop/src/very/deeply/nested/module-7/implementation-file-7.ts',
  'Budget exceeded: agent:claude-a-repository-with-a-rather-long-name-5f00ba11 spent $1234.57 of $1000 / 20000000 tokens (month 2026-11); task claims are refused until the period rolls or the cap is raised. See: koor-cli budget list',
  'Tasks ready in shop: #1 "login page"; #2 "signup page"; #3 "password reset". Claim one: koor-cli task claim shop',
];

t.test('the estimate is at least the real count', async (t) => {
  for (const s of SAMPLES) t.ok(tokenEstimate(s) >= tokens(s), `${JSON.stringify(s.slice(0, 40))}: estimate ${tokenEstimate(s)} ≥ real ${tokens(s)}`);
});

t.test('digestText stays within its budget for any mix of those lines, and says when it cut', async (t) => {
  for (const budget of [200, 400]) {
    for (let i = 0; i < SAMPLES.length; i++) {
      const lines = [...SAMPLES.slice(i), ...SAMPLES.slice(0, i)];
      const text = digestText(lines, budget)!;
      t.ok(tokens(text) <= budget, `budget ${budget}, from sample ${i}: ${tokens(text)} tokens`);
      t.match(text, /\n- more: koor-cli digest$/);
    }
  }
  t.equal(digestText([], 200), null, 'nothing: no text at all');
  const short = digestText(['one thing'], 200);
  t.equal(short, 'Koor:\n- one thing', 'a short digest is as written');
});
