"""A small Hugging Face BERT encoder, random-initialised from a config (no
hub downloads), with keyword inputs as BERT takes them.

    ttpack build samples/torch_bert.py -o bert.ttpack
"""

import torch
import transformers

import ttpack

SEQ = 32


def ttpack_spec() -> ttpack.BuildSpec:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=512, max_position_embeddings=128)
    model = transformers.BertModel(config).eval()
    inputs = {
        "input_ids": torch.randint(0, config.vocab_size, (1, SEQ)),
        "attention_mask": torch.ones(1, SEQ, dtype=torch.int64),
        "token_type_ids": torch.zeros(1, SEQ, dtype=torch.int64),
    }
    return ttpack.BuildSpec(fn=model, example_inputs=inputs)
