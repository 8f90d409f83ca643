"""PyTorch port of LGMSNet-2D, written from docs/ and the project's network spec.

state_dict-compatible with the official model (same keys, same shapes), so official
checkpoints load into it and its checkpoints convert with tools/convert.py. Used for
fixtures, training and benchmarks; never at serve time.

Run with Debian's torch: /usr/bin/python3.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DIMS = [16, 32, 64, 128, 128]
DEFAULT_SPLITS = [[96, 32], [96, 32], [96, 32], [48, 16]]
DEFAULT_DEPTHS = [1, 1, 1]


def conv_bn_silu_1x1(cin, cout):
    """PBS: 1x1 conv (no bias) -> BN -> SiLU. Keys .0 and .1."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


def conv_bn_silu_3x3(cin, cout):
    """CBS: 3x3 conv (no bias, pad 1) -> BN -> SiLU. Keys .0 and .1."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class StemBlock(nn.Module):
    """CBR: 3x3 conv with bias -> BN -> ReLU (keys .conv.0, .conv.1)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=True), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        return self.conv(x)


class LocalMultiscaleBlock(nn.Module):
    """LMS: depthwise 3/5/7/9 on channel quarters, GN+GELU, PBS(C->C/4), CBS(C/4->C), residual."""

    def __init__(self, c):
        super().__init__()
        g = c // 4
        self.norm_act = nn.Sequential(nn.GroupNorm(4, c), nn.GELU())
        self.local_dwc = nn.Conv2d(g, g, 3, padding=1, groups=g)
        self.global_dwc_s = nn.Conv2d(g, g, 5, padding=2, groups=g)
        self.global_dwc_m = nn.Conv2d(g, g, 7, padding=3, groups=g)
        self.global_dwc_l = nn.Conv2d(g, g, 9, padding=4, groups=g)
        self.conv_1x1_bn = conv_bn_silu_1x1(c, g)
        self.conv_nxn_bn = conv_bn_silu_3x3(g, c)
        self.g = g

    def forward(self, x):
        g = self.g
        m = torch.cat(
            [
                self.local_dwc(x[:, 0:g]),
                self.global_dwc_s(x[:, g : 2 * g]),
                self.global_dwc_m(x[:, 2 * g : 3 * g]),
                self.global_dwc_l(x[:, 3 * g : 4 * g]),
            ],
            dim=1,
        )
        a = self.norm_act(m + x)
        return self.conv_nxn_bn(self.conv_1x1_bn(a)) + x


class UpBlock(nn.Module):
    """UP: bilinear x2 (half-pixel) -> 3x3 conv with bias -> BN -> ReLU (keys .up.1, .up.2)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(cin, cout, 3, 1, 1, bias=True),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.up(x)


class FusionBlock(nn.Module):
    """FUSE(2C->C): grouped 3x3 (g=2) -> GELU -> BN -> 1x1 (2C->4C) -> GELU -> BN -> 1x1 (4C->C) -> GELU -> BN."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cin, 3, padding=1, groups=2),
            nn.GELU(),
            nn.BatchNorm2d(cin),
            nn.Conv2d(cin, cout * 4, 1),
            nn.GELU(),
            nn.BatchNorm2d(cout * 4),
            nn.Conv2d(cout * 4, cout, 1),
            nn.GELU(),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x):
        return self.conv(x)


class DepthwiseBranch(nn.Module):
    """The GMS conv branch: dw3x3 (no bias) -> BN -> ReLU -> per-channel scale -> BN."""

    def __init__(self, c):
        super().__init__()
        self.dwconv3x3 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.act = nn.ReLU()
        self.dwconv1x1 = nn.Conv2d(c, c, 1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn2(self.dwconv1x1(self.act(self.bn1(self.dwconv3x3(x)))))


class TokenAttention(nn.Module):
    """Pre-norm multi-head attention (4 heads of 8) inside each token group."""

    def __init__(self, dim, heads=4, dim_head=8):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x):  # x: B, P, N, D
        b, p, n, _ = x.shape
        q, k, v = self.to_qkv(self.norm(x)).chunk(3, dim=-1)

        def heads(t):
            return t.reshape(b, p, n, self.heads, -1).permute(0, 1, 3, 2, 4)

        q, k, v = heads(q), heads(k), heads(v)
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        out = torch.matmul(attn, v).permute(0, 1, 3, 2, 4).reshape(b, p, n, -1)
        return self.to_out(out)


class TokenFeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.SiLU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0)
        )

    def forward(self, x):
        return self.net(x)


class TokenTransformer(nn.Module):
    def __init__(self, dim, mlp_dim, depth=1):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.ModuleList([TokenAttention(dim), TokenFeedForward(dim, mlp_dim)]) for _ in range(depth)]
        )

    def forward(self, x):
        for attn, ff in self.layers:
            x = x + attn(x)
            x = x + ff(x)
        return x


class GlobalMultiscaleBlock(nn.Module):
    """GMS: CBS, PBS, split into (stride-2 token attention on a ch | depthwise branch on b ch), PBS, CBS over (fused | input)."""

    def __init__(self, dim, channel, split, mlp_dim):
        super().__init__()
        a, b = split
        assert a + b == channel
        self.a = a
        self.conv1 = conv_bn_silu_3x3(dim, channel)
        self.conv2 = conv_bn_silu_1x1(channel, channel)
        self.conv_spilt = DepthwiseBranch(b)
        self.transformer = TokenTransformer(a, mlp_dim)
        self.conv3 = conv_bn_silu_1x1(channel, channel)
        self.conv4 = conv_bn_silu_3x3(channel + dim, channel)

    def forward(self, x):
        y = x
        t = self.conv2(self.conv1(x))
        t1, t2 = t[:, : self.a], t[:, self.a :]
        t2 = t2 + self.conv_spilt(t2)
        bsz, a, h, w = t1.shape
        # pixel (i, j) -> group 2*(i%2) + (j%2), token (i//2)*(w//2) + j//2
        tok = t1.reshape(bsz, a, h // 2, 2, w // 2, 2).permute(0, 3, 5, 2, 4, 1).reshape(bsz, 4, (h // 2) * (w // 2), a)
        tok = self.transformer(tok)
        t1 = tok.reshape(bsz, 2, 2, h // 2, w // 2, a).permute(0, 5, 3, 1, 4, 2).reshape(bsz, a, h, w)
        u = self.conv3(torch.cat([t1, t2], dim=1))
        return self.conv4(torch.cat([u, y], dim=1))


class LGMSNet(nn.Module):
    """LGMSNet-2D; attribute names follow the official model so state_dicts interchange."""

    def __init__(self, in_channels=3, num_classes=1, dims=None, splits=None, depths=None):
        super().__init__()
        d = list(dims or DEFAULT_DIMS)
        s = [list(x) for x in (splits or DEFAULT_SPLITS)]
        dep = list(depths or DEFAULT_DEPTHS)
        self.hparams = dict(in_channels=in_channels, num_classes=num_classes, dims=d, splits=s, depths=dep)
        self.stem = StemBlock(in_channels, d[0])
        self.encoder1 = nn.Sequential(*[LocalMultiscaleBlock(d[0]) for _ in range(dep[0])], conv_bn_silu_1x1(d[0], d[0]))
        self.encoder2 = nn.Sequential(*[LocalMultiscaleBlock(d[0]) for _ in range(dep[1])], conv_bn_silu_1x1(d[0], d[1]))
        self.encoder3 = nn.Sequential(*[LocalMultiscaleBlock(d[1]) for _ in range(dep[2])], conv_bn_silu_1x1(d[1], d[2]))
        self.encoder4 = nn.Sequential(GlobalMultiscaleBlock(d[2], d[3], s[0], 2 * d[3]))
        self.encoder5 = nn.Sequential(GlobalMultiscaleBlock(d[3], d[4], s[1], 2 * d[4]))
        self.Maxpool = nn.MaxPool2d(2, 2)
        self.Up5 = UpBlock(d[4], d[3])
        self.Up_conv5 = GlobalMultiscaleBlock(2 * d[3], d[3], s[2], 2 * d[3])
        self.Up4 = UpBlock(d[3], d[2])
        self.Up_conv4 = nn.Sequential(FusionBlock(2 * d[2], d[2]), GlobalMultiscaleBlock(d[2], d[2], s[3], 2 * d[2]))
        self.Up3 = UpBlock(d[2], d[1])
        self.Up_conv3 = FusionBlock(2 * d[1], d[1])
        self.Up2 = UpBlock(d[1], d[0])
        self.Up_conv2 = FusionBlock(2 * d[0], d[0])
        self.Conv_1x1 = nn.Conv2d(d[0], num_classes, 1)

    def forward(self, x):
        x1 = self.encoder1(self.stem(x))
        x2 = self.encoder2(self.Maxpool(x1))
        x3 = self.encoder3(self.Maxpool(x2))
        x4 = self.encoder4(self.Maxpool(x3))
        x5 = self.encoder5(self.Maxpool(x4))
        d5 = self.Up_conv5(torch.cat([x4, self.Up5(x5)], dim=1))
        d4 = self.Up_conv4(torch.cat([x3, self.Up4(d5)], dim=1))
        d3 = self.Up_conv3(torch.cat([x2, self.Up3(d4)], dim=1))
        d2 = self.Up_conv2(torch.cat([x1, self.Up2(d3)], dim=1))
        return self.Conv_1x1(d2)


def randomize_(model, seed=0):
    """Random weights AND random BatchNorm running statistics, so BN-folding mistakes show in parity tests."""
    g = torch.Generator().manual_seed(seed)

    def rnd(t, scale, shift=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * scale + shift)

    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
                rnd(mod.weight, 0.3, 1.0)
                rnd(mod.bias, 0.2)
                if isinstance(mod, nn.BatchNorm2d):
                    rnd(mod.running_mean, 0.3)
                    mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) * 1.5 + 0.25)
            elif isinstance(mod, (nn.Conv2d, nn.Linear)):
                rnd(mod.weight, 1.0 / math.sqrt(mod.weight[0].numel()))
                if mod.bias is not None:
                    rnd(mod.bias, 0.1)
    return model


def count_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    m = LGMSNet().eval()
    print("params", count_params(m), "tensors", len(m.state_dict()))
    with torch.no_grad():
        print(m(torch.randn(1, 3, 64, 64)).shape)
