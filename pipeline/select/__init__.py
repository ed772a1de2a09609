"""Principle selection: which value principle (if any) applies to a prompt.

LiVO's retriever runs keyword regexes first and asks an LLM about the rest. Here every
selector takes the one keyword decision first (keyword) and differs only in what decides the
rest: the offline default (classifier), a softmax head trained on labelled in-house and real
prompts (train, labelled) over word features and MiniLM embeddings (head, embed) averaged with
MiniLM's fine-tuned top layers (tuned), with who a
prompt shows and which attribute it leaves open from word lists (people); MiniLM retrieval
against principle descriptors with benign anchors, its threshold and margin set on a crisp
labelled split (retrieval); or an LLM on any OpenAI-compatible endpoint (llm). The
``Selector`` protocol is in base, and the one factory that builds the configured selector in
factory.
"""
