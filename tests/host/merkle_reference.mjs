// Reference roots and proofs from @openzeppelin/merkle-tree, for tests/host/test_merkle.py.
//
// stdin:  a JSON list of cases {"types": [...], "values": [[...], ...],
//         "sortLeaves": bool (optional, default true), "multi": [indices] (optional)}
//         with bytesN as "0x..." hex strings and uintN as decimal strings.
// stdout: a JSON list, one {"root", "proofs": [[hex, ...] per value index],
//         "multiproof": {"leaves", "proof", "proofFlags"} (when "multi" was given)} per case.
import { readFileSync } from 'node:fs';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const cases = JSON.parse(readFileSync(0, 'utf8'));
const results = cases.map(({ types, values, sortLeaves = true, multi }) => {
  const tree = StandardMerkleTree.of(values, types, { sortLeaves });
  const result = { root: tree.root, proofs: values.map((_, i) => tree.getProof(i)) };
  if (multi !== undefined) {
    result.multiproof = tree.getMultiProof(multi);
  }
  return result;
});
process.stdout.write(JSON.stringify(results));
