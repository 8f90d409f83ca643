"""PyTorch port of LGMSNet (2D) and LGMSNet-3D, written from docs/ and the project's
network spec.

state_dict-compatible with the official models (same keys, same shapes), so official
checkpoints load into it and its checkpoints convert with tools/convert.py. Used for
fixtures, training and benchmarks; never at serve time.

One set of modules serves both ranks (`nd` = 2 or 3): in 3D every convolution is cubic,
every BatchNorm except the depthwise branch's becomes InstanceNorm3d without affine
(per-patch statistics, no state_dict entries), upsampling is trilinear, and tokens come in
8 stride-2 groups instead of 4.

Run with Debian's torch: /usr/bin/python3.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DIMS = [16, 32, 64, 128, 128]
DEFAULT_SPLITS = [[96, 32], [96, 32], [96, 32], [48, 16]]
DEFAULT_DEPTHS = [1, 1, 1]
DEFAULT_3D = dict(in_channels=1, num_classes=14, dims=[16, 32, 64, 128, 128], splits=DEFAULT_SPLITS, depths=[1, 1, 1])


def conv(nd):
    return nn.Conv2d if nd == 2 else nn.Conv3d


def norm(nd, c):
    """The norm after stem/PBS/CBS/UP/FUSE convs: BatchNorm in 2D, InstanceNorm3d (no affine) in 3D."""
    return nn.BatchNorm2d(c) if nd == 2 else nn.InstanceNorm3d(c, affine=False, track_running_stats=False)


def conv_bn_silu_1x1(cin, cout, nd=2):
    """PBS: 1x1 conv (no bias) -> BN -> SiLU. Keys .0 and .1."""
    return nn.Sequential(conv(nd)(cin, cout, 1, 1, 0, bias=False), norm(nd, cout), nn.SiLU())


def conv_bn_silu_3x3(cin, cout, nd=2):
    """CBS: 3x3 conv (no bias, pad 1) -> BN -> SiLU. Keys .0 and .1."""
    return nn.Sequential(conv(nd)(cin, cout, 3, 1, 1, bias=False), norm(nd, cout), nn.SiLU())


class StemBlock(nn.Module):
    """CBR: 3x3 conv with bias -> BN -> ReLU (keys .conv.0, .conv.1)."""

    def __init__(self, cin, cout, nd=2):
        super().__init__()
        self.conv = nn.Sequential(conv(nd)(cin, cout, 3, 1, 1, bias=True), norm(nd, cout), nn.ReLU())

    def forward(self, x):
        return self.conv(x)


class LocalMultiscaleBlock(nn.Module):
    """LMS: depthwise 3/5/7/9 on channel quarters, GN+GELU, PBS(C->C/4), CBS(C/4->C), residual."""

    def __init__(self, c, nd=2):
        super().__init__()
        g = c // 4
        self.norm_act = nn.Sequential(nn.GroupNorm(4, c), nn.GELU())
        self.local_dwc = conv(nd)(g, g, 3, padding=1, groups=g)
        self.global_dwc_s = conv(nd)(g, g, 5, padding=2, groups=g)
        self.global_dwc_m = conv(nd)(g, g, 7, padding=3, groups=g)
        self.global_dwc_l = conv(nd)(g, g, 9, padding=4, groups=g)
        self.conv_1x1_bn = conv_bn_silu_1x1(c, g, nd)
        self.conv_nxn_bn = conv_bn_silu_3x3(g, c, nd)
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
    """UP: bilinear (trilinear) x2, half-pixel -> 3x3 conv with bias -> BN -> ReLU (keys .up.1, .up.2)."""

    def __init__(self, cin, cout, nd=2):
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear" if nd == 2 else "trilinear", align_corners=False),
            conv(nd)(cin, cout, 3, 1, 1, bias=True),
            norm(nd, cout),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.up(x)


class FusionBlock(nn.Module):
    """FUSE(2C->C): grouped 3x3 (g=2) -> GELU -> BN -> 1x1 (2C->4C) -> GELU -> BN -> 1x1 (4C->C) -> GELU -> BN."""

    def __init__(self, cin, cout, nd=2):
        super().__init__()
        self.conv = nn.Sequential(
            conv(nd)(cin, cin, 3, padding=1, groups=2),
            nn.GELU(),
            norm(nd, cin),
            conv(nd)(cin, cout * 4, 1),
            nn.GELU(),
            norm(nd, cout * 4),
            conv(nd)(cout * 4, cout, 1),
            nn.GELU(),
            norm(nd, cout),
        )

    def forward(self, x):
        return self.conv(x)


class DepthwiseBranch(nn.Module):
    """The GMS conv branch: dw3x3 (no bias) -> BN -> ReLU -> per-channel scale -> BN.
    BatchNorm in both ranks; the 3D keys are dwconv3x3x3 / dwconv1x1x1."""

    def __init__(self, c, nd=2):
        super().__init__()
        bn = nn.BatchNorm2d if nd == 2 else nn.BatchNorm3d
        self.dw3_name, self.dw1_name = ("dwconv3x3", "dwconv1x1") if nd == 2 else ("dwconv3x3x3", "dwconv1x1x1")
        setattr(self, self.dw3_name, conv(nd)(c, c, 3, padding=1, groups=c, bias=False))
        self.bn1 = bn(c)
        self.act = nn.ReLU()
        setattr(self, self.dw1_name, conv(nd)(c, c, 1, groups=c, bias=False))
        self.bn2 = bn(c)

    def forward(self, x):
        dw3, dw1 = getattr(self, self.dw3_name), getattr(self, self.dw1_name)
        return self.bn2(dw1(self.act(self.bn1(dw3(x)))))


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


def tokens_split(t):
    """B x A x (D x) H x W -> B x G x N x A: G = 4 (2D) or 8 (3D) stride-2 lattices; the
    element at (d, h, w) goes to group 4*(d%2) + 2*(h%2) + (w%2) (2D: 2*(h%2) + (w%2)),
    tokens in row-major order over the (D/2 x) H/2 x W/2 grid."""
    if t.dim() == 4:
        b, a, h, w = t.shape
        tok = t.reshape(b, a, h // 2, 2, w // 2, 2).permute(0, 3, 5, 2, 4, 1)
        return tok.reshape(b, 4, (h // 2) * (w // 2), a)
    b, a, d, h, w = t.shape
    tok = t.reshape(b, a, d // 2, 2, h // 2, 2, w // 2, 2).permute(0, 3, 5, 7, 2, 4, 6, 1)
    return tok.reshape(b, 8, (d // 2) * (h // 2) * (w // 2), a)


def tokens_merge(tok, shape):
    """The inverse of tokens_split, back to `shape`."""
    if len(shape) == 4:
        b, a, h, w = shape
        return tok.reshape(b, 2, 2, h // 2, w // 2, a).permute(0, 5, 3, 1, 4, 2).reshape(shape)
    b, a, d, h, w = shape
    t = tok.reshape(b, 2, 2, 2, d // 2, h // 2, w // 2, a).permute(0, 7, 4, 1, 5, 2, 6, 3)
    return t.reshape(shape)


class GlobalMultiscaleBlock(nn.Module):
    """GMS: CBS, PBS, split into (stride-2 token attention on a ch | depthwise branch on b ch), PBS, CBS over (fused | input)."""

    def __init__(self, dim, channel, split, mlp_dim, nd=2):
        super().__init__()
        a, b = split
        assert a + b == channel
        self.a, self.nd = a, nd
        self.conv1 = conv_bn_silu_3x3(dim, channel, nd)
        self.conv2 = conv_bn_silu_1x1(channel, channel, nd)
        self.conv_spilt = DepthwiseBranch(b, nd)
        self.transformer = TokenTransformer(a, mlp_dim)
        self.conv3 = conv_bn_silu_1x1(channel, channel, nd)
        self.conv4 = conv_bn_silu_3x3(channel + dim, channel, nd)

    def forward(self, x):
        y = x
        t = self.conv2(self.conv1(x))
        t1, t2 = t[:, : self.a], t[:, self.a :]
        t2 = t2 + self.conv_spilt(t2)
        t1 = tokens_merge(self.transformer(tokens_split(t1)), t1.shape)
        u = self.conv3(torch.cat([t1, t2], dim=1))
        return self.conv4(torch.cat([u, y], dim=1))


class LGMSNet(nn.Module):
    """LGMSNet (spatial_dims 2) or LGMSNet-3D (spatial_dims 3, the official MKtinyvit4_CT3D);
    attribute names follow the official models so state_dicts interchange."""

    def __init__(self, in_channels=3, num_classes=1, dims=None, splits=None, depths=None, spatial_dims=2):
        super().__init__()
        d = list(dims or DEFAULT_DIMS)
        s = [list(x) for x in (splits or DEFAULT_SPLITS)]
        dep = list(depths or DEFAULT_DEPTHS)
        nd = spatial_dims
        assert nd in (2, 3)
        self.hparams = dict(in_channels=in_channels, num_classes=num_classes, dims=d, splits=s, depths=dep)
        if nd == 3:
            self.hparams["spatial_dims"] = 3
        self.stem = StemBlock(in_channels, d[0], nd)
        self.encoder1 = nn.Sequential(*[LocalMultiscaleBlock(d[0], nd) for _ in range(dep[0])],
                                      conv_bn_silu_1x1(d[0], d[0], nd))
        self.encoder2 = nn.Sequential(*[LocalMultiscaleBlock(d[0], nd) for _ in range(dep[1])],
                                      conv_bn_silu_1x1(d[0], d[1], nd))
        self.encoder3 = nn.Sequential(*[LocalMultiscaleBlock(d[1], nd) for _ in range(dep[2])],
                                      conv_bn_silu_1x1(d[1], d[2], nd))
        self.encoder4 = nn.Sequential(GlobalMultiscaleBlock(d[2], d[3], s[0], 2 * d[3], nd))
        self.encoder5 = nn.Sequential(GlobalMultiscaleBlock(d[3], d[4], s[1], 2 * d[4], nd))
        self.Maxpool = nn.MaxPool2d(2, 2) if nd == 2 else nn.MaxPool3d(2, 2)
        self.Up5 = UpBlock(d[4], d[3], nd)
        self.Up_conv5 = GlobalMultiscaleBlock(2 * d[3], d[3], s[2], 2 * d[3], nd)
        self.Up4 = UpBlock(d[3], d[2], nd)
        self.Up_conv4 = nn.Sequential(FusionBlock(2 * d[2], d[2], nd),
                                      GlobalMultiscaleBlock(d[2], d[2], s[3], 2 * d[2], nd))
        self.Up3 = UpBlock(d[2], d[1], nd)
        self.Up_conv3 = FusionBlock(2 * d[1], d[1], nd)
        self.Up2 = UpBlock(d[1], d[0], nd)
        self.Up_conv2 = FusionBlock(2 * d[0], d[0], nd)
        self.Conv_1x1 = conv(nd)(d[0], num_classes, 1)

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
            if isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)):
                rnd(mod.weight, 0.3, 1.0)
                rnd(mod.bias, 0.2)
                if isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm3d)):
                    rnd(mod.running_mean, 0.3)
                    mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) * 1.5 + 0.25)
            elif isinstance(mod, (nn.Conv2d, nn.Conv3d, nn.Linear)):
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
