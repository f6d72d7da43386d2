"""Mixture-of-experts layers, counted with static shapes and each used expert's weights read once.

Routing is data-dependent: which experts a token picks cannot be known on meta, and transformers'
eager expert loop (``nonzero`` over the experts hit) cannot run there. roofscope registers its own
experts implementation, ``"roofscope"``, in transformers' ``ExpertsInterface`` and builds MoE
models with it. It computes what transformers' ``batched_mm`` implementation computes (every token
runs exactly its ``num_experts_per_tok`` experts, so the expert FLOPs are exact), but each
projection is one op, ``roofscope::expert_linear(x, weight, expert_ids, transposed)``, instead of
gathering a copy of the expert weights per (token, expert) pair and multiplying by the copies.
Its formula (``roofscope.formulas.matmul.expert_linear``) reads each distinct expert's weight once,
as a grouped-GEMM kernel does. The op has a meta/fake kernel, a real one (index + bmm, for models
on CPU or GPU), and a backward made of itself and ``expert_linear_weight_grad``.

A few families run their experts their own way instead. Llama 4's ``Llama4TextMoe`` runs every
expert on every token (the router's scores are zero for the unselected ones): ``route_top_k``
gives roofscope's models of it a forward that runs each token's ``top_k`` experts through the same
``expert_linear`` op, scaling the input by the router's sigmoid score as Llama 4 does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = [
    "IMPLEMENTATION",
    "expert_linear",
    "expert_linear_weight_grad",
    "experts_forward",
    "llama4_moe_forward",
    "register",
    "route_top_k",
]

#: The name of roofscope's experts implementation in transformers' ExpertsInterface.
IMPLEMENTATION = "roofscope"


@torch.library.custom_op("roofscope::expert_linear", mutates_args=())
def expert_linear(x: Tensor, weight: Tensor, expert_ids: Tensor, transposed: bool) -> Tensor:
    """Row s of ``x`` ([S, in]) times expert ``expert_ids[s]``'s weight: ``weight`` is
    [E, out, in] (``transposed``: [E, in, out]); the result is [S, out]."""
    selected = weight[expert_ids]
    if transposed:
        return torch.bmm(x.unsqueeze(1), selected).squeeze(1)
    return torch.bmm(selected, x.unsqueeze(-1)).squeeze(-1)


@expert_linear.register_fake
def _expert_linear_fake(x: Tensor, weight: Tensor, expert_ids: Tensor, transposed: bool) -> Tensor:
    return x.new_empty((x.shape[0], weight.shape[2] if transposed else weight.shape[1]))


@torch.library.custom_op("roofscope::expert_linear_weight_grad", mutates_args=())
def expert_linear_weight_grad(x: Tensor, grad: Tensor, expert_ids: Tensor, num_experts: int, transposed: bool) -> Tensor:
    """The gradient of ``expert_linear``'s weight: grad[s] (outer) x[s] summed into expert ids[s]."""
    outer = torch.bmm(grad.unsqueeze(2), x.unsqueeze(1))  # [S, out, in]
    if transposed:
        outer = outer.transpose(1, 2)
    return x.new_zeros((num_experts, *outer.shape[1:])).index_add_(0, expert_ids, outer)


@expert_linear_weight_grad.register_fake
def _expert_linear_weight_grad_fake(x: Tensor, grad: Tensor, expert_ids: Tensor, num_experts: int, transposed: bool) -> Tensor:
    shape = (num_experts, x.shape[1], grad.shape[1]) if transposed else (num_experts, grad.shape[1], x.shape[1])
    return x.new_empty(shape)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    x, weight, expert_ids, transposed = inputs
    ctx.save_for_backward(x, weight, expert_ids)
    ctx.transposed = transposed


def _backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
    x, weight, expert_ids = ctx.saved_tensors
    grad_x = expert_linear(grad, weight, expert_ids, not ctx.transposed) if ctx.needs_input_grad[0] else None
    grad_weight = expert_linear_weight_grad(x, grad, expert_ids, weight.shape[0], ctx.transposed) if ctx.needs_input_grad[1] else None
    return grad_x, grad_weight, None, None


expert_linear.register_autograd(_backward, setup_context=_setup_context)


def experts_forward(self: Any, hidden_states: Tensor, top_k_index: Tensor, top_k_weights: Tensor) -> Tensor:
    """transformers' ``batched_mm_experts_forward`` with each projection one ``expert_linear``."""
    num_top_k = top_k_index.size(-1)
    num_tokens = hidden_states.size(0)
    hidden_dim = hidden_states.size(-1)
    selected_hidden_states = hidden_states.repeat_interleave(num_top_k, dim=0)  # [S, hidden], S = tokens * top_k
    sample_weights = top_k_weights.reshape(-1)
    expert_ids = top_k_index.reshape(-1)
    if self.has_gate:
        weights, biases = self.gate_up_proj, (self.gate_up_proj_bias if self.has_bias else None)
    else:
        weights, biases = self.up_proj, (self.up_proj_bias if self.has_bias else None)
    projected = expert_linear(selected_hidden_states, weights, expert_ids, self.is_transposed)
    if biases is not None:
        projected = projected + biases[expert_ids]
    projected = self._apply_gate(projected) if self.has_gate else self.act_fn(projected)
    down = expert_linear(projected, self.down_proj, expert_ids, self.is_transposed)
    if self.has_bias:
        down = down + self.down_proj_bias[expert_ids]
    if getattr(self, "has_post_expert_norm", False):
        down = self.post_expert_norm(down)
    weighted = down * sample_weights.unsqueeze(-1)
    return weighted.view(num_tokens, num_top_k, hidden_dim).sum(dim=1).to(hidden_states.dtype)


def register() -> None:
    """Add the "roofscope" experts implementation to transformers' ExpertsInterface (registering
    the same function again changes nothing)."""
    from transformers.integrations.moe import ExpertsInterface

    ExpertsInterface.register(IMPLEMENTATION, experts_forward)


def llama4_moe_forward(self: Any, hidden_states: Tensor) -> tuple[Tensor, Tensor]:
    """Llama 4's mixture of experts with each token run through its top_k experts only."""
    hidden_states = hidden_states.reshape(-1, self.hidden_dim)
    router_scores, router_logits = self.router(hidden_states)
    top_index = torch.topk(router_logits, self.top_k, dim=1).indices  # the experts the router's scores keep
    expert_ids = top_index.reshape(-1)
    scores = router_scores.gather(1, top_index).reshape(-1, 1)
    routed_in = hidden_states.repeat_interleave(self.top_k, dim=0) * scores
    experts = self.experts
    gate, up = expert_linear(routed_in, experts.gate_up_proj, expert_ids, True).chunk(2, dim=-1)
    routed_out = expert_linear(up * experts.act_fn(gate), experts.down_proj, expert_ids, True)
    out = self.shared_expert(hidden_states)
    out.add_(routed_out.view(-1, self.top_k, self.hidden_dim).sum(dim=1))
    return out, router_logits


#: Mixture-of-experts modules that do not go through transformers' ExpertsInterface, by class name,
#: and the forward that routes each token to its top_k experts.
_TOP_K_FORWARDS = {"Llama4TextMoe": llama4_moe_forward}


def route_top_k(model: torch.nn.Module) -> None:
    """Give the model's own mixture-of-experts modules that run every expert densely (Llama 4's) a
    forward that runs each token's top_k experts only. For models roofscope builds."""
    import types

    for module in model.modules():
        forward = _TOP_K_FORWARDS.get(type(module).__name__)
        if forward is not None:
            module.forward = types.MethodType(forward, module)
