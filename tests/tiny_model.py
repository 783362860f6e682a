"""A tiny Qwen2-shaped chat model built offline, for testing generation plumbing fast.

Random weights, a byte-level BPE tokenizer trained on a few SQL-ish lines, and a
ChatML chat template like the real model's: everything the plumbing touches is real,
only the size is not.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "SELECT COUNT(*) FROM Jidouka WHERE DepartmentId = 2;",
    "SELECT DepartmentName, SUM(TotalTimeSaved) FROM Department GROUP BY DepartmentName;",
    "How many improvements did DC2 make in 2024? Có bao nhiêu cải tiến?",
    "CREATE TABLE Author ( AuthorId INTEGER PRIMARY KEY, AuthorName VARCHAR );",
    "```sql\nSELECT * FROM Tool\n```",
] * 20


def build_tiny_model(folder: Path, seed: int = 0, initializer_range: float = 0.02) -> Path:
    """``initializer_range`` well above the default lets LoRA reach confident outputs."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        bos_token=None,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        initializer_range=initializer_range,
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder
