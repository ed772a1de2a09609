"""Chat LLMs on OpenAI-compatible endpoints: the protocol (types), JSON handling, the request cache,
the client, and the usage/failure records the stages leave in a run."""
