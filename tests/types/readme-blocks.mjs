// Fails unless every ```js and ```ts block of pkg/README.md and README.md appears
// verbatim in a usage file here (readme-*.ts, readme/*.js), so that `tsc -p
// tests/types` and `tsc -p tests/types/readme` check the README's examples as they are
// written. Run by scripts/test beside tsc: node tests/types/readme-blocks.mjs
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const usage = [
  ...readdirSync(here('.')).filter((f) => /^readme-.*\.ts$/.test(f)).map((f) => here(f)),
  ...readdirSync(here('readme')).filter((f) => f.endsWith('.js')).map((f) => here(`readme/${f}`)),
].map((path) => readFileSync(path, 'utf8'));

let missing = 0;
let blocks = 0;
for (const readme of ['../../pkg/README.md', '../../README.md']) {
  const text = readFileSync(here(readme), 'utf8');
  for (const match of text.matchAll(/^```(js|ts)\n([\s\S]*?)^```$/gm)) {
    blocks += 1;
    if (!usage.some((file) => file.includes(match[2]))) {
      missing += 1;
      const line = text.slice(0, match.index).split('\n').length;
      console.error(`${readme.slice(6)}:${line}: this \`\`\`${match[1]} block is in no file of tests/types/ ` +
        `(copy it, verbatim, into readme-*.ts or readme/*.js):\n${match[2]}`);
    }
  }
}
if (missing) process.exit(1);
console.log(`README examples: all ${blocks} \`\`\`js/\`\`\`ts blocks are in tests/types/`);
