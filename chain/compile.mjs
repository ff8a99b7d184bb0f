#!/usr/bin/env node
// Compile chain/contracts/*.sol offline with the npm `solc` package (wasm) and write one
// artifact per contract to chain/build/<Name>.json, only when an input changed.
//
// Inputs that decide freshness (recorded in each artifact as `inputs`, name -> sha256):
// every source unit that was compiled (ours and the OpenZeppelin files they import), this
// script itself, the solc version and the settings. sw/chain/contracts.py reads the same
// record to tell whether it must run this script.
//
// Usage: node chain/compile.mjs [--force] [--quiet]
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const CHAIN = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(CHAIN);
const NODE_MODULES = join(ROOT, "node_modules");
const BUILD = join(CHAIN, "build");
const CONTRACTS = ["RosvdRegistry"];
const ARTIFACT_FORMAT = 2;
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object",
    "evm.deployedBytecode.immutableReferences"] } },
};

const args = new Set(process.argv.slice(2));
const log = (message) => { if (!args.has("--quiet")) console.log(message); };

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

// Source unit names: "chain/contracts/X.sol" for ours (relative to the repository root),
// "@scope/package/path.sol" for imports, read from node_modules. Nothing else is readable.
function unitPath(name) {
  const clean = normalize(name);
  if (clean.startsWith("..") || clean.startsWith(sep)) throw new Error(`import escapes the tree: ${name}`);
  if (clean.startsWith(`chain${sep}contracts${sep}`)) return join(ROOT, clean);
  return join(NODE_MODULES, clean);
}

function solcVersionOnDisk() {
  const manifest = join(NODE_MODULES, "solc", "package.json");
  if (!existsSync(manifest)) {
    console.error("compile.mjs: node_modules/solc is missing; run make setup (npm ci)");
    process.exit(2);
  }
  return JSON.parse(readFileSync(manifest, "utf8")).version;
}

function ownSources() {
  const dir = join(CHAIN, "contracts");
  return readdirSync(dir).filter((f) => f.endsWith(".sol")).sort().map((f) => `chain/contracts/${f}`);
}

function inputsDigest(inputs) {
  const lines = Object.keys(inputs).sort().map((name) => `${name}\0${inputs[name]}\n`);
  return sha256(lines.join(""));
}

// Fresh when every artifact exists and every input it records still hashes the same,
// and no source was added to chain/contracts since.
function upToDate(solcVersion) {
  for (const name of CONTRACTS) {
    const path = join(BUILD, `${name}.json`);
    if (!existsSync(path)) return false;
    let artifact;
    try { artifact = JSON.parse(readFileSync(path, "utf8")); } catch { return false; }
    if (artifact.format !== ARTIFACT_FORMAT || artifact.solcVersion !== solcVersion) return false;
    const inputs = artifact.inputs ?? {};
    for (const unit of ownSources()) if (!(unit in inputs)) return false;
    for (const [unit, digest] of Object.entries(inputs)) {
      const file = unit === "chain/compile.mjs" ? join(ROOT, unit) : unitPath(unit);
      if (!existsSync(file) || sha256(readFileSync(file)) !== digest) return false;
    }
  }
  return true;
}

async function main() {
  const solcVersion = solcVersionOnDisk();
  if (!args.has("--force") && upToDate(solcVersion)) {
    log("chain/build is up to date");
    return;
  }
  const { default: solc } = await import("solc");
  const read = new Map();
  const sources = {};
  for (const unit of ownSources()) {
    const text = readFileSync(unitPath(unit), "utf8");
    read.set(unit, text);
    sources[unit] = { content: text };
  }
  const findImports = (name) => {
    try {
      const text = readFileSync(unitPath(name), "utf8");
      read.set(name, text);
      return { contents: text };
    } catch (error) {
      return { error: `cannot read ${name}: ${error.message} (run make setup?)` };
    }
  };
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  for (const e of output.errors ?? []) console.error(e.formattedMessage);
  if (errors.length) {
    console.error(`compile.mjs: ${errors.length} error(s)`);
    process.exit(1);
  }
  const inputs = { "chain/compile.mjs": sha256(readFileSync(fileURLToPath(import.meta.url))) };
  for (const [unit, text] of read) inputs[unit] = sha256(text);
  mkdirSync(BUILD, { recursive: true });
  for (const name of CONTRACTS) {
    const unit = `chain/contracts/${name}.sol`;
    const compiled = output.contracts?.[unit]?.[name];
    if (!compiled) throw new Error(`solc produced no ${name} from ${unit}`);
    const artifact = {
      format: ARTIFACT_FORMAT,
      contractName: name,
      sourceName: unit,
      solcVersion,
      solcLongVersion: solc.version(),
      settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion },
      sourceHash: inputsDigest(inputs),
      inputs,
      abi: compiled.abi,
      bytecode: `0x${compiled.evm.bytecode.object}`,
      deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
      // [start, length] byte ranges of the deployed code that the constructor fills in
      // (immutables): masked when deployed code is compared with this artifact.
      immutableRanges: Object.values(compiled.evm.deployedBytecode.immutableReferences ?? {})
        .flat().map(({ start, length }) => [start, length]).sort((a, b) => a[0] - b[0]),
    };
    const path = join(BUILD, `${name}.json`);
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(artifact, null, 1)}\n`);
    renameSync(temporary, path); // readers never see a half-written artifact
    log(`wrote ${resolve(path)} (solc ${artifact.solcLongVersion}, ${(compiled.evm.deployedBytecode.object.length / 2)} bytes deployed)`);
  }
}

await main();
