#!/usr/bin/env python3
"""Regenerates crates/epoch-quote/tests/data/quote-vectors.json with an EIP-712 implementation
independent of ours (eth_account), so our digest and signatures are checked against the wider
Ethereum ecosystem and not only against themselves.

    python3 -m venv /tmp/vectors-venv && /tmp/vectors-venv/bin/pip install -r scripts/vectors/requirements.txt
    /tmp/vectors-venv/bin/python scripts/vectors/gen_quote_vectors.py > crates/epoch-quote/tests/data/quote-vectors.json
"""

import json
import random
import sys
from importlib.metadata import version

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

UINT256_MAX = 2**256 - 1

TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "EpochProofQuote": [
        {"name": "prover", "type": "address"},
        {"name": "epochNumber", "type": "uint256"},
        {"name": "epochInitBlock", "type": "uint256"},
        {"name": "epochFinalBlock", "type": "uint256"},
        {"name": "totalFees", "type": "uint256"},
        {"name": "rollupAddress", "type": "address"},
        {"name": "basisPointFee", "type": "uint32"},
        {"name": "bondAmount", "type": "uint256"},
        {"name": "validUntilSlot", "type": "uint256"},
    ],
}

# anvil's first three development keys, then keys from a fixed seed.
KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
]


def case(key, chain_id, verifying_contract, quote, note):
    account = Account.from_key(key)
    message = {
        "types": TYPES,
        "primaryType": "EpochProofQuote",
        "domain": {
            "name": "ProverCoordination",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": quote,
    }
    signed = Account.sign_message(encode_typed_data(full_message=message), key)
    as_json = {k: (v if k in ("prover", "rollupAddress", "basisPointFee") else str(v)) for k, v in quote.items()}
    return {
        "note": note,
        "privateKey": key,
        "address": account.address,
        "chainId": chain_id,
        "verifyingContract": verifying_contract,
        "quote": as_json,
        "digest": "0x" + signed.message_hash.hex().removeprefix("0x"),
        "signature": "0x" + signed.signature.hex().removeprefix("0x"),
    }


def main():
    rng = random.Random(20261125)
    keys = KEYS + ["0x%064x" % rng.randrange(1, 2**255) for _ in range(5)]
    rollup = to_checksum_address("0x5fbdb2315678afecb367f032d93f642f64180aa3")
    cases = []

    def quote(prover, **fields):
        base = {
            "prover": prover,
            "epochNumber": 7,
            "epochInitBlock": 225,
            "epochFinalBlock": 256,
            "totalFees": 1_000_000_000_000_000_000,
            "rollupAddress": rollup,
            "basisPointFee": 250,
            "bondAmount": 5_000 * 10**18,
            "validUntilSlot": 260,
        }
        base.update(fields)
        return base

    a0 = Account.from_key(keys[0]).address
    cases.append(case(keys[0], 31337, rollup, quote(a0), "typical devnet quote"))
    cases.append(case(keys[1], 1, rollup, quote(Account.from_key(keys[1]).address), "mainnet chain id"))
    cases.append(case(keys[2], 31337, rollup, quote(Account.from_key(keys[2]).address, epochNumber=0,
                      epochInitBlock=0, epochFinalBlock=0, totalFees=0, basisPointFee=0, bondAmount=0,
                      validUntilSlot=0), "all numbers zero"))
    cases.append(case(keys[0], 31337, rollup, quote(a0, epochNumber=UINT256_MAX, epochInitBlock=UINT256_MAX,
                      epochFinalBlock=UINT256_MAX, totalFees=UINT256_MAX, basisPointFee=10000,
                      bondAmount=UINT256_MAX, validUntilSlot=UINT256_MAX), "every uint256 at its maximum, fee 10000"))
    cases.append(case(keys[1], 2**64 - 1, rollup, quote(Account.from_key(keys[1]).address), "largest u64 chain id"))
    other = to_checksum_address("0x" + "ab" * 20)
    cases.append(case(keys[2], 31337, rollup, quote(Account.from_key(keys[2]).address, rollupAddress=other),
                      "rollupAddress differs from the domain's verifyingContract"))
    cases.append(case(keys[0], 31337, rollup, quote(to_checksum_address("0x" + "11" * 20)),
                      "prover field is not the signer"))
    for key in keys[3:]:
        prover = Account.from_key(key).address
        contract = to_checksum_address("0x%040x" % rng.randrange(2**160))
        cases.append(case(key, rng.choice([1, 11155111, 31337, 17000]), contract, quote(
            prover,
            epochNumber=rng.randrange(10**6),
            epochInitBlock=rng.randrange(10**9),
            epochFinalBlock=rng.randrange(10**9, 2 * 10**9),
            totalFees=rng.randrange(2**128),
            rollupAddress=contract,
            basisPointFee=rng.randrange(10001),
            bondAmount=rng.randrange(2**100),
            validUntilSlot=rng.randrange(2**40),
        ), "random"))

    json.dump({"generator": f"eth_account {version('eth-account')}", "cases": cases}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
