"""MobileBertForSequenceClassification in plain torch, with Hugging Face's module tree and state_dict names.

`transformers` is not installable here, yet the shipped folder must load unchanged in it and in the C++ engine,
so every module, attribute name, eps and residual below mirrors transformers 4.36's modeling_mobilebert.py.
"""
import json
import math
import os

import numpy as np
import torch
from torch import nn

from .safetensors_io import read_safetensors, write_safetensors

TRANSFORMERS_VERSION = "4.36.2"

# Defaults of transformers' MobileBertConfig; save_pretrained writes all of them.
CONFIG_DEFAULTS = {
    "attention_probs_dropout_prob": 0.1,
    "classifier_activation": True,
    "classifier_dropout": None,
    "embedding_size": 128,
    "hidden_act": "relu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 512,
    "initializer_range": 0.02,
    "intermediate_size": 512,
    "intra_bottleneck_size": 128,
    "key_query_shared_bottleneck": True,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "mobilebert",
    "normalization_type": "no_norm",
    "num_attention_heads": 4,
    "num_feedforward_networks": 4,
    "num_hidden_layers": 24,
    "pad_token_id": 0,
    "trigram_input": True,
    "true_hidden_size": 128,
    "type_vocab_size": 2,
    "use_bottleneck": True,
    "use_bottleneck_attention": False,
    "vocab_size": 30522,
}

ACTIVATIONS = {"relu": nn.functional.relu, "gelu": nn.functional.gelu, "tanh": torch.tanh}


class Config:
    def __init__(self, **values):
        merged = dict(CONFIG_DEFAULTS)
        merged.update(values)
        self.__dict__.update(merged)

    @classmethod
    def from_json(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))

    def to_dict(self):
        return dict(self.__dict__)


class NoNorm(nn.Module):
    def __init__(self, feat_size, eps=None):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(feat_size))
        self.weight = nn.Parameter(torch.ones(feat_size))

    def forward(self, x):
        return x * self.weight + self.bias


def make_norm(config, size, eps=None):
    # HF passes layer_norm_eps to some norms only; the others get torch's default 1e-5.
    if config.normalization_type == "no_norm":
        return NoNorm(size)
    return nn.LayerNorm(size) if eps is None else nn.LayerNorm(size, eps=eps)


class MobileBertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.trigram_input = config.trigram_input
        self.embedding_size = config.embedding_size
        self.hidden_size = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        embedded_input_size = config.embedding_size * (3 if config.trigram_input else 1)
        self.embedding_transformation = nn.Linear(embedded_input_size, config.hidden_size)
        self.LayerNorm = make_norm(config, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids):
        seq_len = input_ids.shape[1]
        position_ids = torch.arange(seq_len, device=input_ids.device).unsqueeze(0)
        token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids)
        if self.trigram_input:
            x = torch.cat([
                nn.functional.pad(x[:, 1:], [0, 0, 0, 1, 0, 0], value=0.0),
                x,
                nn.functional.pad(x[:, :-1], [0, 0, 1, 0, 0, 0], value=0.0),
            ], dim=2)
        if self.trigram_input or self.embedding_size != self.hidden_size:
            x = self.embedding_transformation(x)
        x = x + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class MobileBertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.true_hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.true_hidden_size, self.all_head_size)
        self.key = nn.Linear(config.true_hidden_size, self.all_head_size)
        value_in = config.true_hidden_size if config.use_bottleneck_attention else config.hidden_size
        self.value = nn.Linear(value_in, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x):
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.num_attention_heads, self.attention_head_size).permute(0, 2, 1, 3)

    def forward(self, query_tensor, key_tensor, value_tensor, attention_bias):
        q = self._heads(self.query(query_tensor))
        k = self._heads(self.key(key_tensor))
        v = self._heads(self.value(value_tensor))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        if attention_bias is not None:
            scores = scores + attention_bias
        probs = self.dropout(nn.functional.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.shape[0], context.shape[1], self.all_head_size)


class MobileBertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.use_bottleneck = config.use_bottleneck
        self.dense = nn.Linear(config.true_hidden_size, config.true_hidden_size)
        self.LayerNorm = make_norm(config, config.true_hidden_size, eps=config.layer_norm_eps)
        if not self.use_bottleneck:
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        out = self.dense(hidden_states)
        if not self.use_bottleneck:
            out = self.dropout(out)
        return self.LayerNorm(out + residual)


class MobileBertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = MobileBertSelfAttention(config)
        self.output = MobileBertSelfOutput(config)

    def forward(self, query_tensor, key_tensor, value_tensor, layer_input, attention_bias):
        return self.output(self.self(query_tensor, key_tensor, value_tensor, attention_bias), layer_input)


class MobileBertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.true_hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACTIVATIONS[config.hidden_act]

    def forward(self, x):
        return self.intermediate_act_fn(self.dense(x))


class OutputBottleneck(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.true_hidden_size, config.hidden_size)
        self.LayerNorm = make_norm(config, config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class MobileBertOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.use_bottleneck = config.use_bottleneck
        self.dense = nn.Linear(config.intermediate_size, config.true_hidden_size)
        self.LayerNorm = make_norm(config, config.true_hidden_size)
        if not self.use_bottleneck:
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
        else:
            self.bottleneck = OutputBottleneck(config)

    def forward(self, intermediate_states, residual_1, residual_2):
        out = self.dense(intermediate_states)
        if not self.use_bottleneck:
            return self.LayerNorm(self.dropout(out) + residual_1)
        return self.bottleneck(self.LayerNorm(out + residual_1), residual_2)


class BottleneckLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intra_bottleneck_size)
        self.LayerNorm = make_norm(config, config.intra_bottleneck_size, eps=config.layer_norm_eps)

    def forward(self, x):
        return self.LayerNorm(self.dense(x))


class Bottleneck(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.key_query_shared_bottleneck = config.key_query_shared_bottleneck
        self.use_bottleneck_attention = config.use_bottleneck_attention
        self.input = BottleneckLayer(config)
        if self.key_query_shared_bottleneck:
            self.attention = BottleneckLayer(config)

    def forward(self, hidden_states):
        bottlenecked = self.input(hidden_states)
        if self.use_bottleneck_attention:
            return (bottlenecked,) * 4
        if self.key_query_shared_bottleneck:
            shared = self.attention(hidden_states)
            return shared, shared, hidden_states, bottlenecked
        return hidden_states, hidden_states, hidden_states, bottlenecked


class FFNOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.true_hidden_size)
        self.LayerNorm = make_norm(config, config.true_hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dense(hidden_states) + residual)


class FFNLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.intermediate = MobileBertIntermediate(config)
        self.output = FFNOutput(config)

    def forward(self, x):
        return self.output(self.intermediate(x), x)


class MobileBertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.use_bottleneck = config.use_bottleneck
        self.num_feedforward_networks = config.num_feedforward_networks
        self.attention = MobileBertAttention(config)
        self.intermediate = MobileBertIntermediate(config)
        self.output = MobileBertOutput(config)
        if self.use_bottleneck:
            self.bottleneck = Bottleneck(config)
        if config.num_feedforward_networks > 1:
            self.ffn = nn.ModuleList([FFNLayer(config) for _ in range(config.num_feedforward_networks - 1)])

    def forward(self, hidden_states, attention_bias):
        if self.use_bottleneck:
            query, key, value, layer_input = self.bottleneck(hidden_states)
        else:
            query = key = value = layer_input = hidden_states
        attention_output = self.attention(query, key, value, layer_input, attention_bias)
        if self.num_feedforward_networks != 1:
            for ffn in self.ffn:
                attention_output = ffn(attention_output)
        return self.output(self.intermediate(attention_output), attention_output, hidden_states)


class MobileBertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([MobileBertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_bias):
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_bias)
        return hidden_states


class MobileBertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.do_activation = config.classifier_activation
        if self.do_activation:
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states):
        first = hidden_states[:, 0]
        return torch.tanh(self.dense(first)) if self.do_activation else first


class MobileBertModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = MobileBertEmbeddings(config)
        self.encoder = MobileBertEncoder(config)
        self.pooler = MobileBertPooler(config)

    def forward(self, input_ids, attention_mask=None):
        bias = None
        if attention_mask is not None:
            # As HF: (1 - mask) * finfo.min, so padded keys get exactly zero weight after softmax.
            bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        return self.encoder(self.embeddings(input_ids), bias)


class MobileBertForSequenceClassification(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.num_labels = len(config.id2label)
        self.mobilebert = MobileBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)

    def forward(self, input_ids, attention_mask=None, return_hidden=False):
        hidden = self.mobilebert(input_ids, attention_mask)
        logits = self.classifier(self.dropout(self.mobilebert.pooler(hidden)))
        return (logits, hidden) if return_hidden else logits

    def init_weights(self):
        """HF's _init_weights: normal(initializer_range) for Linear/Embedding, zero biases and padding row."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.weight.data.normal_(0.0, std)
                module.bias.data.zero_()
            elif isinstance(module, nn.Embedding):
                module.weight.data.normal_(0.0, std)
                if module.padding_idx is not None:
                    module.weight.data[module.padding_idx].zero_()
            elif isinstance(module, (nn.LayerNorm, NoNorm)):
                module.bias.data.zero_()
                module.weight.data.fill_(1.0)


def load_model(folder):
    """Loads a HF MobileBertForSequenceClassification folder; weights are up-cast to float32 (as the engine does)."""
    config = Config.from_json(os.path.join(folder, "config.json"))
    model = MobileBertForSequenceClassification(config)
    tensors = read_safetensors(os.path.join(folder, "model.safetensors"))
    expected = set(model.state_dict())
    if set(tensors) != expected:
        raise ValueError(f"{folder}: tensor names differ from HF's: missing {sorted(expected - set(tensors))}, "
                         f"unexpected {sorted(set(tensors) - expected)}")
    model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()})
    model.eval()
    return model


CONFIG_KEY_ORDER_FIRST = ("architectures",)


def save_model(model, folder, dtype=np.float16):
    """Writes config.json + model.safetensors the way save_pretrained does (sorted keys, torch_dtype)."""
    os.makedirs(folder, exist_ok=True)
    config = model.config.to_dict()
    config["architectures"] = ["MobileBertForSequenceClassification"]
    config["torch_dtype"] = {np.float16: "float16", np.float32: "float32"}[dtype]
    config["transformers_version"] = TRANSFORMERS_VERSION
    config["id2label"] = {str(k): v for k, v in sorted(((int(k), v) for k, v in config["id2label"].items()))}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
    tensors = {k: v.detach().cpu().numpy().astype(dtype) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
