// Activation checkpointing of one layer (model.activation_checkpointing): the layer's forward
// runs without autograd, keeping only its inputs, and backward re-runs it under grad mode to get
// its activations back. Memory per layer drops from every intermediate (attention scores, FFN
// hidden, dropout masks, LayerNorm statistics: tens of [tokens x d] tensors) to its input, for
// about one more forward pass of compute. LibTorch's C++ API has no torch.utils.checkpoint; this
// is its reentrant variant as a custom autograd function.
//
// The recomputation draws the same dropout masks (the random generators' states are saved before
// the forward and restored around the recomputation), runs under the forward's autocast state,
// and backpropagates into the layer's parameters (their .grad, hooks included, exactly as a
// plain backward would) and into the inputs: parameter gradients are bitwise those of training
// without checkpointing on the CPU.
#ifndef FATHOM_MODELS_CHECKPOINTING_H_
#define FATHOM_MODELS_CHECKPOINTING_H_

#include <torch/torch.h>

#include <functional>

namespace fathom::models {

// A layer as a function of its differentiable inputs: x, and memory (the decoder's packed
// encoder output; undefined for encoder layers). It must own everything else it uses (the
// layer's module, token packings, relation ids), as it is called again during backward, after
// the caller's frame is gone, and must compute the same thing both times given the same
// generator states.
using CheckpointedLayerFn =
    std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& memory)>;

// layer(x, memory) with its activations recomputed in backward instead of kept. Call it only
// when a backward will follow (training, grad mode on) and x or memory requires grad: the
// result's gradient reaches the layer's parameters through x's and memory's graph node.
torch::Tensor CheckpointedLayer(CheckpointedLayerFn layer, const torch::Tensor& x,
                                const torch::Tensor& memory = {});

}  // namespace fathom::models

#endif  // FATHOM_MODELS_CHECKPOINTING_H_
