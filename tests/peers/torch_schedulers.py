"""PyTorch-scheduler facades over keras-lr's schedules, for PyTorch's own tests.

`test_torch_lrscheduler.py` imports `CyclicLR` and `OneCycleLR` from here
instead of `torch.optim.lr_scheduler`. Each takes PyTorch's arguments, drives
a torch optimizer's parameter groups the way PyTorch's scheduler does (the
step-0 values at construction, one step per `step()`), and takes every
learning rate and momentum from a keras-lr schedule evaluated at that step:
`keras_lr.schedules.TriangularCyclicalLearningRate`, `Triangular2...`,
`ExponentialCyclicalLearningRate` (a momentum cycle is the same class from
`max_momentum` down to `base_momentum`), `OneCycle` and `OneCycleMomentum`.

One mapping is not a plain argument copy: PyTorch's tests cycle the momentum
between 1 and 22, which `OneCycleMomentum` refuses (a momentum is < 1, a
documented difference). The momentum curve is affine in `(base, max)`, so the
facade evaluates `OneCycleMomentum(base_momentum=0, max_momentum=0.5)` and
maps it onto `[base, max]`: the shape is keras-lr's.
"""

from keras_lr import _validation
from keras_lr import schedules

__all__ = ["CyclicLR", "OneCycleLR"]


def _per_group(value, groups):
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"expected {groups} values, got {len(value)}")
        return list(value)
    return [value] * groups


class _Facade:
    def __init__(self, optimizer, lrs, momenta):
        self.optimizer = optimizer
        self._lrs, self._momenta = lrs, momenta
        self._use_beta1 = momenta is not None and "betas" in optimizer.defaults
        self.last_epoch = 0
        self._apply()

    def _apply(self):
        step = self.last_epoch
        for i, group in enumerate(self.optimizer.param_groups):
            group["lr"] = float(self._lrs[i](step))
            if self._momenta is not None:
                momentum = float(self._momenta[i](step))
                if self._use_beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum

    def step(self):
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]


def _check_momentum(optimizer):
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` option enabled")


_CYCLICAL = {
    "triangular": schedules.TriangularCyclicalLearningRate,
    "triangular2": schedules.Triangular2CyclicalLearningRate,
    "exp_range": schedules.ExponentialCyclicalLearningRate,
}


def CyclicLR(optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,  # noqa: N802
             mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
             cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
    if scale_fn is not None:
        raise NotImplementedError("the ported tests use the built-in modes")
    cls = _CYCLICAL[_validation.require_one_of("mode", mode, tuple(_CYCLICAL))]
    groups = len(optimizer.param_groups)
    extra = {"gamma": gamma} if mode == "exp_range" else {}

    def make(low, high):
        return cls(low, high, step_size_up, step_size_down=step_size_down, **extra)

    lrs = [make(lo, hi) for lo, hi in zip(_per_group(base_lr, groups),
                                          _per_group(max_lr, groups))]
    momenta = None
    if cycle_momentum:
        _check_momentum(optimizer)
        momenta = [make(hi, lo) for lo, hi in zip(_per_group(base_momentum, groups),
                                                  _per_group(max_momentum, groups))]
    return _Facade(optimizer, lrs, momenta)


class _Affine:
    def __init__(self, schedule, low, high):
        self.schedule, self.low, self.high = schedule, low, high

    def __call__(self, step):
        return self.low + (self.high - self.low) * 2.0 * float(self.schedule(step))


def OneCycleLR(optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,  # noqa: N802
               pct_start=0.3, anneal_strategy="cos", cycle_momentum=True,
               base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
               final_div_factor=1e4, three_phase=False, last_epoch=-1):
    if total_steps is not None:
        epochs = steps_per_epoch = None  # PyTorch: total_steps wins
    groups = len(optimizer.param_groups)
    shape = dict(pct_start=pct_start, anneal_strategy=anneal_strategy,
                 three_phase=three_phase)
    lrs = [schedules.OneCycle(lr, total_steps, epochs=epochs,
                              steps_per_epoch=steps_per_epoch, div_factor=div_factor,
                              final_div_factor=final_div_factor, **shape)
           for lr in _per_group(max_lr, groups)]
    momenta = None
    if cycle_momentum:
        _check_momentum(optimizer)
        unit = schedules.OneCycleMomentum(total_steps, epochs=epochs,
                                          steps_per_epoch=steps_per_epoch,
                                          base_momentum=0.0, max_momentum=0.5,
                                          **shape)
        momenta = [_Affine(unit, lo, hi) for lo, hi in zip(
            _per_group(base_momentum, groups), _per_group(max_momentum, groups))]
    return _Facade(optimizer, lrs, momenta)
