"""Deep Image Prior (Ulyanov, Vedaldi, Lempitsky, CVPR 2018; https://github.com/DmitryUlyanov/deep-image-prior).

An untrained conv net f_θ(z) is fitted to one corrupted image x̂ by minimising ‖(f_θ(z) − x̂) ⊙ m‖² with m = 1 on
known pixels; the architecture is the prior. Modules:

- ``dip.nets``: the five networks (official ``skip``, three encoder-decoders, the bicubic net);
- ``dip.inputs``: the fixed input z (uniform, normal, Bernoulli, meshgrid);
- ``dip.presets``: the official per-task settings as data (``presets.toml``);
- ``dip.fit``: the fitting loop (a function);
- ``dip.inpainter``: the ``Inpainter`` object that ties them together for one image;
- ``dip.pack``: N independent fits of one net and size packed into one (``torch.func.vmap``), exact per fit.
"""
