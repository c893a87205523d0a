"""torchvision's ResNet-18 with seeded random weights (no downloads).

    ttpack build samples/torch_resnet18.py -o resnet18.ttpack
"""

import torch
import torchvision

import ttpack


def ttpack_spec() -> ttpack.BuildSpec:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    image = torch.randn(1, 3, 224, 224)
    return ttpack.BuildSpec(fn=model, example_inputs=[image])
