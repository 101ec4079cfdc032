// Compiles contracts/src with the pinned solc-js and writes one artifact per deployable contract
// to contracts/out (ABI and bytecode, in the layout alloy's `sol!` reads).
//
//   node contracts/build.mjs           regenerate the artifacts
//   node contracts/build.mjs --check   fail if the committed artifacts differ from the sources
//
// The solc module comes from SOLCJS (scripts/lib/tools.sh `ensure_solc` installs and sets it).
import { createRequire } from "node:module";
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SOLC_VERSION = "0.8.37";
const CONTRACTS = ["Rollup", "ProofCommitmentEscrow", "FeeToken", "DevnetVerifier"];

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, "src");
const outDir = join(here, "out");
const check = process.argv.includes("--check");

if (!process.env.SOLCJS) {
  console.error("SOLCJS is not set: source scripts/lib/tools.sh and run ensure_solc first");
  process.exit(2);
}
const solc = createRequire(import.meta.url)(process.env.SOLCJS);
const version = solc.version();
if (!version.startsWith(SOLC_VERSION + "+")) {
  console.error(`solc ${version} is not the pinned ${SOLC_VERSION}`);
  process.exit(2);
}

const sources = {};
for (const file of readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: readFileSync(join(srcDir, file), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

let stale = [];
if (!existsSync(outDir)) mkdirSync(outDir);
for (const name of CONTRACTS) {
  const contract = output.contracts[`${name}.sol`][name];
  const artifact = {
    contractName: name,
    compiler: version,
    abi: contract.abi,
    bytecode: { object: "0x" + contract.evm.bytecode.object },
    deployedBytecode: { object: "0x" + contract.evm.deployedBytecode.object },
  };
  const text = JSON.stringify(artifact, null, 2) + "\n";
  const path = join(outDir, `${name}.json`);
  if (check) {
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) stale.push(path);
  } else {
    writeFileSync(path, text);
  }
}
if (stale.length) {
  console.error(`stale contract artifacts (run: node contracts/build.mjs):\n  ${stale.join("\n  ")}`);
  process.exit(1);
}
console.error(check ? "contract artifacts are up to date" : `wrote ${CONTRACTS.length} artifacts to ${outDir}`);
