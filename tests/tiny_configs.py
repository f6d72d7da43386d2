"""Small model configs the tests build, shared by fixtures and by tests that write them themselves."""

#: A two-layer Llama as a Hugging Face config.json (64 wide, 4 heads, 2 key/value heads, vocabulary
#: 1000, bf16): a serving summary in milliseconds, not seconds.
TINY_LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 1000,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
}
