// Loads the real llama.cpp graphs of test/fixtures (see its README) for the unit tests.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { checkGraphDoc, type GraphDoc } from '../src/api';

export function realGraph(fa: 'on' | 'off'): GraphDoc {
  const gz = readFileSync(new URL(`./fixtures/smollm2-fa-${fa}.json.gz`, import.meta.url));
  return checkGraphDoc(JSON.parse(gunzipSync(gz).toString('utf8')));
}
