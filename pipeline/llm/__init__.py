"""Chat LLMs on OpenAI-compatible endpoints: the protocol and the usage/failure records the stages
leave in a run (types), JSON handling (jsonx), the request cache (cache), the retry policy (retry)
and the client (client)."""
