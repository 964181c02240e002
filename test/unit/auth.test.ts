import t from 'tap';
import { Authenticator } from '../../src/front/auth.js';

t.test('server token: exact bytes only, whatever the length or encoding of the attempt', async (t) => {
  const a = new Authenticator('s3cret');
  t.ok(a.isServerToken('Bearer s3cret'));
  for (const bad of ['Bearer s3creT', 'Bearer s3cre', 'Bearer s3crets', 'bearer s3cret', 'Bearer  s3cret', '', 'Bearer s3cr€t', 's3cret']) {
    t.notOk(a.isServerToken(bad), JSON.stringify(bad));
  }
  const multi = new Authenticator('pässwörd');
  t.ok(multi.isServerToken('Bearer pässwörd'), 'non-ASCII tokens compare exactly');
  t.notOk(multi.isServerToken('Bearer passswoord'), 'the same length in UTF-8 bytes (10), other characters');
  t.notOk(multi.isServerToken('Bearer passwörd'), 'the same length in characters, one other');
  t.notOk(new Authenticator('').isServerToken('Bearer '), 'open mode has no server token');
});
