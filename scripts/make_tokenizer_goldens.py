#!/usr/bin/env python3
"""Golden encodings of the real tokenizers, made with the Python `tokenizers` package (HF's reference).

Reads tests/data/tokenizer_texts.json and each .deps/tokenizers/<name>/tokenizer.json (scripts/
fetch_tokenizers.sh), and writes <out-dir>/<case>.json for tests/unit/io/tokenizer_golden_test.cpp:
text -> ids with and without special tokens, the decoded text, with and without special tokens, and the
decode of every single id. Besides the three files as shipped, variant cases replace some components
of a file ("overrides", recorded in the golden so the C++ test applies the same edit) to check the
Metaspace pre-tokenizer/decoder, the ByteLevel regex and the Split behaviors against HF as well.

Uses only `tokenizers` and the standard library (Python 3.12). When `transformers` is importable too,
each case of a shipped file also records AutoTokenizer's ids for the model directory (tokenizer.json +
tokenizer_config.json), which Tokenizer::from_model_dir must reproduce.

    python3 scripts/make_tokenizer_goldens.py [--deps-dir .deps/tokenizers] [--out-dir tests/data/tokenizer_goldens]
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile

import tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LLAMA2_METASPACE = {
    "normalizer": None,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
        {"type": "Fuse"},
    ]},
}
LLAMA3_GPT2_BYTELEVEL = {
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
}
LLAMA3_SPLIT_BEHAVIORS = {
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{P}"}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"String": "e"}, "behavior": "Removed", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[0-9]"}, "behavior": "Contiguous", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{Lu}\\p{Ll}*"}, "behavior": "Isolated", "invert": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    ]},
}

# case name -> (tokenizer directory name, component overrides or None)
CASES = {
    "llama3": ("llama3", None),
    "deepseek_v3": ("deepseek_v3", None),
    "llama2": ("llama2", None),
    "llama2_metaspace": ("llama2", LLAMA2_METASPACE),
    "llama3_gpt2_bytelevel": ("llama3", LLAMA3_GPT2_BYTELEVEL),
    "llama3_split_behaviors": ("llama3", LLAMA3_SPLIT_BEHAVIORS),
}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load(path, overrides):
    if not overrides:
        return tokenizers.Tokenizer.from_file(path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc.update(overrides)
    return tokenizers.Tokenizer.from_str(json.dumps(doc))


def transformers_ids(model_dir, texts):
    try:
        import transformers
    except ImportError:
        return None, None
    # transformers >= 5 rebuilds LlamaTokenizer(Fast) classes from the class defaults instead of
    # tokenizer.json (other ids than the tokenizers package and transformers 4, which flatquant follows).
    with open(os.path.join(model_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        tokenizer_class = json.load(f).get("tokenizer_class", "")
    if int(transformers.__version__.split(".")[0]) >= 5 and tokenizer_class.startswith("LlamaTokenizer"):
        print(f"note: {model_dir}: transformers {transformers.__version__} ignores tokenizer.json for "
              f"{tokenizer_class}; no transformers_ids recorded", file=sys.stderr)
        return None, None
    try:
        tok = transformers.AutoTokenizer.from_pretrained(model_dir)
        return transformers.__version__, [tok(t, add_special_tokens=True)["input_ids"] for t in texts]
    except Exception as e:  # a transformers quirk must not cost the tokenizers goldens
        print(f"warning: transformers could not encode with {model_dir}: {e}", file=sys.stderr)
        return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deps-dir", default=os.path.join(ROOT, ".deps", "tokenizers"))
    parser.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "data", "tokenizer_goldens"))
    parser.add_argument("--texts", default=os.path.join(ROOT, "tests", "data", "tokenizer_texts.json"))
    args = parser.parse_args()

    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)["texts"]
    os.makedirs(args.out_dir, exist_ok=True)
    missing = []
    for case, (name, overrides) in CASES.items():
        model_dir = os.path.join(args.deps_dir, name)
        path = os.path.join(model_dir, "tokenizer.json")
        if not os.path.isfile(path):
            missing.append(path)
            continue
        tok = load(path, overrides)
        entries = []
        for text in texts:
            ids = tok.encode(text, add_special_tokens=True).ids
            entries.append({
                "text": text,
                "ids": ids,
                "ids_no_special": tok.encode(text, add_special_tokens=False).ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
                "single_id_decodes": [tok.decode([i], skip_special_tokens=False) for i in ids],
            })
        golden = {
            "generator": "scripts/make_tokenizer_goldens.py",
            "tokenizers_version": tokenizers.__version__,
            "tokenizer": name,
            "tokenizer_json_sha256": sha256(path),
            "overrides": overrides,
            "vocab_size_with_added": tok.get_vocab_size(with_added_tokens=True),
            "cases": entries,
        }
        if overrides is None:
            version, ids = transformers_ids(model_dir, texts)
            if ids is not None:
                golden["transformers_version"] = version
                for entry, t_ids in zip(entries, ids):
                    entry["transformers_ids"] = t_ids
        out = os.path.join(args.out_dir, case + ".json")
        fd, tmp = tempfile.mkstemp(dir=args.out_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False, indent=1)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
        print(f"wrote {out}: {len(entries)} texts, tokenizers {tokenizers.__version__}")
    if missing:
        print("missing (run scripts/fetch_tokenizers.sh first): " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
