"""Pair planning: per (prompt, principle) the aligned and violating prompt and one seed (planner),
and the LLM's minimally changed safe twins (llm_rewrite)."""
