"""Real-sized networks for the scaling benchmarks (run with Debian's /usr/bin/python3 and python3-torch):
a HiFi-GAN V1 generator ("vocoder", ~13.9 M parameters) and a ResNet-18 for 3x64x64 images with 10
classes ("resnet18", ~11.2 M parameters), both written here by hand (no torchvision).

    /usr/bin/python3 bench/scale_torch.py export OUT_DIR [--batch-vocoder 2] [--frames 16] [--batch-resnet 16]
    /usr/bin/python3 bench/scale_torch.py train vocoder|resnet18 [--steps 5] [--warmup 2] [--threads 2]
                                                                  [--batch N] [--frames 16]

export writes OUT_DIR/vocoder.onnx (input `mel` [B, 80, frames], output `audio` [B, 1, frames*256]) and
OUT_DIR/resnet18.onnx (input `image` [B, 3, 64, 64], output `logits` [B, 10]): opset 17, fixed shapes,
plain weights (the ONNX tool applies weight normalization itself), eval mode with BatchNormalization kept
as a node. Prints one JSON line with the parameter counts.

train is the PyTorch baseline: the same network with torch.nn.utils.weight_norm on every
Conv1d/ConvTranspose1d/Conv2d/Linear, Adam (lr 1e-4), random inputs and targets (vocoder: L1 loss against
random audio in [-1, 1]; resnet18: cross-entropy against random labels). Prints one JSON line: median
step time (ms) over the steps after the warmup, and the peak resident set size (MB)."""
import argparse
import json
import math
import os
import resource
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm

LRELU_SLOPE = 0.1  # HiFi-GAN's slope inside the generator; the final leaky_relu uses PyTorch's default
MEL_CHANNELS = 80
IMAGE_SIZE = 64
CLASSES = 10
DEFAULT_BATCH = {"vocoder": 2, "resnet18": 16}


# ---- HiFi-GAN V1 generator ----

def same_padding(kernel_size, dilation=1):
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Per dilation d: x = conv2(lrelu(conv1_d(lrelu(x)))) + x, lengths kept by 'same' padding."""

    def __init__(self, channels, kernel_size, dilations=(1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=same_padding(kernel_size, d))
            for d in dilations)
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=same_padding(kernel_size))
            for _ in dilations)

    def forward(self, x):
        for conv1, conv2 in zip(self.convs1, self.convs2):
            xt = conv1(F.leaky_relu(x, LRELU_SLOPE))
            xt = conv2(F.leaky_relu(xt, LRELU_SLOPE))
            x = xt + x
        return x


class HifiGanGenerator(nn.Module):
    """Mel spectrogram [B, 80, T] -> audio [B, 1, T * 256] (upsampling 8 * 8 * 2 * 2)."""

    def __init__(self, initial_channels=512, upsample_rates=(8, 8, 2, 2),
                 upsample_kernel_sizes=(16, 16, 4, 4), resblock_kernel_sizes=(3, 7, 11),
                 resblock_dilations=(1, 3, 5)):
        super().__init__()
        self.conv_pre = nn.Conv1d(MEL_CHANNELS, initial_channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()  # len(resblock_kernel_sizes) blocks per upsampling stage
        channels = initial_channels
        for rate, kernel_size in zip(upsample_rates, upsample_kernel_sizes):
            # padding (k - u) // 2 makes the output exactly u times longer
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, kernel_size, rate,
                                               padding=(kernel_size - rate) // 2))
            channels //= 2
            self.resblocks.extend(ResBlock1(channels, k, resblock_dilations) for k in resblock_kernel_sizes)
        self.blocks_per_stage = len(resblock_kernel_sizes)
        self.samples_per_frame = math.prod(upsample_rates)
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)

    def forward(self, mel):
        x = self.conv_pre(mel)
        for stage, upsample in enumerate(self.ups):
            x = upsample(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[stage * self.blocks_per_stage:(stage + 1) * self.blocks_per_stage]
            x = sum(block(x) for block in blocks) / self.blocks_per_stage
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x)


# ---- ResNet-18 ----

class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:  # 1x1 projection so the shortcut matches the shape
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + shortcut)


class ResNet18(nn.Module):
    def __init__(self, classes=CLASSES, widths=(64, 128, 256, 512), blocks_per_layer=(2, 2, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, padding=3, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, padding=1))
        layers = []
        in_channels = widths[0]
        for layer, (width, blocks) in enumerate(zip(widths, blocks_per_layer)):
            stride = 1 if layer == 0 else 2
            for block in range(blocks):
                layers.append(BasicBlock(in_channels, width, stride if block == 0 else 1))
                in_channels = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, classes)

    def forward(self, image):
        x = self.layers(self.stem(image))
        return self.fc(torch.flatten(self.pool(x), 1))


# ---- shared helpers ----

def build(model_name):
    return HifiGanGenerator() if model_name == "vocoder" else ResNet18()


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def example_input(model_name, batch, frames):
    if model_name == "vocoder":
        return torch.randn(batch, MEL_CHANNELS, frames)
    return torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE)


def apply_weight_norm(model):
    for module in list(model.modules()):  # a list: weight_norm adds parameters while we walk
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d, nn.Conv2d, nn.Linear)):
            weight_norm(module)  # default dim=0, as HiFi-GAN does
    return model


# ---- subcommands ----

def export(args):
    os.makedirs(args.out_dir, exist_ok=True)
    counts = {}
    for model_name, batch, input_name, output_name in (("vocoder", args.batch_vocoder, "mel", "audio"),
                                                       ("resnet18", args.batch_resnet, "image", "logits")):
        torch.manual_seed(0)  # same weights (and so the same file) on every run
        model = build(model_name).eval()
        counts[model_name] = parameter_count(model)
        # With an eval-mode root module, torch 1.13 merges initializers of equal value (every fresh
        # BatchNorm has weight 1 and bias 0) into one tensor read through Identity nodes, which would tie
        # them in training. A root flagged as training merges only truly shared tensors; under PRESERVE
        # nothing else reads that flag, and every layer stays in eval mode.
        model.training = True
        with warnings.catch_warnings():
            # PRESERVE warns about constant folding "when the model is in training mode"; the layers are not.
            warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
            torch.onnx.export(
                model, (example_input(model_name, batch, args.frames),),
                os.path.join(args.out_dir, f"{model_name}.onnx"),
                opset_version=17, do_constant_folding=True,
                input_names=[input_name], output_names=[output_name],
                # EVAL would fuse BatchNorm into the preceding Conv; PRESERVE (with the model in eval mode)
                # keeps BatchNormalization nodes, with training_mode=0.
                training=torch.onnx.TrainingMode.PRESERVE)
    print(json.dumps({"params": counts, "torch": torch.__version__}))


def train(args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    batch = args.batch or DEFAULT_BATCH[args.model]
    model = apply_weight_norm(build(args.model)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = example_input(args.model, batch, args.frames)
    if args.model == "vocoder":
        target = torch.rand(batch, 1, args.frames * model.samples_per_frame) * 2 - 1
        loss_fn = F.l1_loss
    else:
        target = torch.randint(0, CLASSES, (batch,))
        loss_fn = F.cross_entropy

    times = []
    for step in range(args.warmup + args.steps):
        started = time.perf_counter()
        loss = loss_fn(model(inputs), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        loss.item()
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    print(json.dumps({
        "model": args.model,
        "params": parameter_count(model),  # weight_norm's g and v: slightly more than the plain network
        "stepMs": statistics.median(times) * 1e3,
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux reports KiB
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    export_parser = commands.add_parser("export", help="write vocoder.onnx and resnet18.onnx")
    export_parser.add_argument("out_dir")
    export_parser.add_argument("--batch-vocoder", type=int, default=DEFAULT_BATCH["vocoder"])
    export_parser.add_argument("--frames", type=int, default=16, help="mel frames; audio has 256 per frame")
    export_parser.add_argument("--batch-resnet", type=int, default=DEFAULT_BATCH["resnet18"])
    train_parser = commands.add_parser("train", help="time PyTorch training steps with weight_norm")
    train_parser.add_argument("model", choices=["vocoder", "resnet18"])
    train_parser.add_argument("--steps", type=int, default=5)
    train_parser.add_argument("--warmup", type=int, default=2)
    train_parser.add_argument("--threads", type=int, default=2)
    train_parser.add_argument("--batch", type=int, default=None, help="default: 2 (vocoder), 16 (resnet18)")
    train_parser.add_argument("--frames", type=int, default=16, help="vocoder only")
    args = parser.parse_args()
    if args.command == "export":
        export(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
