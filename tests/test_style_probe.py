"""Tests of genlib.synthesis.style_probe (posterior collapse, the style probe) and style_recipes (free bits,
the prior latent regression)."""
import math

import numpy as np
import pytest
import torch

from genlib.models.spade import StyleEncoder
from genlib.models import conditional_pretrained as cp
from genlib.models.vae import kl_standard_normal
from genlib.synthesis.style_probe import (
    IMAGE_STATISTICS, PARAMETERS, active_units, encode, image_statistics, kl_per_dimension, pixel_spread, probe_r2,
    probe_set, top_direction_share,
)
from genlib.synthesis.style_recipes import RECIPES, kl_free_bits, train_style_spade

pytestmark = pytest.mark.usefixtures("one_thread")


def test_kl_per_dimension_sums_to_the_vae_kl_and_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, log_var = torch.randn(50, 8, generator=g), torch.randn(50, 8, generator=g) * 0.5
    kl = kl_per_dimension(mu, log_var)
    assert kl.shape == (8,) and (kl >= 0).all()
    assert torch.allclose(kl.sum(), kl_standard_normal(mu, log_var).mean().double(), atol=1e-5)
    # Monte Carlo for one image and one dimension: E_q[log q(z) - log p(z)]
    m, s = float(mu[0, 3]), math.exp(0.5 * float(log_var[0, 3]))
    z = m + s * torch.randn(400_000, generator=g, dtype=torch.float64)
    monte_carlo = float((-0.5 * ((z - m) / s) ** 2 - math.log(s) + 0.5 * z**2).mean())
    assert abs(monte_carlo - float(kl_per_dimension(mu[:1], log_var[:1])[3])) < 0.01


def test_kl_per_dimension_is_zero_at_the_prior_and_never_negative():
    assert torch.allclose(kl_per_dimension(torch.zeros(4, 3), torch.zeros(4, 3)), torch.zeros(3, dtype=torch.float64))
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        assert (kl_per_dimension(torch.randn(6, 4, generator=g), 3 * torch.randn(6, 4, generator=g)) >= 0).all()


def test_active_units_counts_dimensions_whose_mean_varies():
    g = torch.Generator().manual_seed(1)
    codes = torch.zeros(200, 8)
    codes[:, 0] = torch.randn(200, generator=g)  # variance about 1: active
    codes[:, 1] = 0.3 * torch.randn(200, generator=g)  # about 0.09: active
    codes[:, 2] = 0.05 * torch.randn(200, generator=g)  # about 0.0025: below Burda's 0.01
    assert active_units(codes) == 2
    assert active_units(codes, threshold=0.001) == 3


def test_a_collapsed_encoder_has_no_active_units_and_no_kl():
    encoder = StyleEncoder(z_dim=8, channels=4, instance_norm=False)
    with torch.no_grad():
        for head in (encoder.mu, encoder.log_var):  # q(z | x) = N(0, I) whatever x: full collapse
            head.weight.zero_()
            head.bias.zero_()
    images = torch.rand(20, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    mu, log_var = encode(encoder, images)
    assert active_units(mu) == 0
    assert float(kl_per_dimension(mu, log_var).sum()) == pytest.approx(0.0, abs=1e-12)
    targets = np.linspace(0, 1, 20)
    assert probe_r2(mu[:10], targets[:10], mu[10:], targets[10:]) <= 0  # nothing to read: the mean at best


def test_top_direction_share_of_a_line_and_of_isotropic_codes():
    g = torch.Generator().manual_seed(3)
    t = torch.randn(300, 1, generator=g)
    line = t * torch.tensor([[1.0, -2.0, 0.5, 0.0]]) + 1e-4 * torch.randn(300, 4, generator=g)
    assert top_direction_share(line) > 0.999
    assert top_direction_share(torch.randn(3000, 4, generator=g)) < 0.3  # 1/4 in the limit


def test_the_probe_recovers_a_parameter_the_code_carries_and_not_one_it_does_not():
    rng = np.random.default_rng(4)
    target = rng.uniform(size=(400, 2))  # two "rendering parameters"
    carries = np.column_stack([2 * target[:, 0] + 0.02 * rng.normal(size=400), rng.normal(size=(400, 5))])
    r2 = probe_r2(carries[:200], target[:200], carries[200:], target[200:])
    assert r2.shape == (2,)
    assert r2[0] > 0.95, f"the code holds parameter 0 linearly: R^2 {r2[0]:.3f}"
    assert r2[1] < 0.1, f"the code holds nothing of parameter 1: R^2 {r2[1]:.3f}"
    # the probe does not care about a dimension's scale (codes are standardised)
    scaled = carries * np.array([1e-3, 1, 1, 1, 1, 1])
    assert probe_r2(scaled[:200], target[:200, 0], scaled[200:], target[200:, 0]) > 0.95


def test_probe_set_draws_parameters_in_their_ranges_and_renders_with_them():
    images, params = probe_set(40, seed=5)
    again, _ = probe_set(40, seed=5)
    assert images.shape == (40, 1, cp.SIZE, cp.SIZE) and torch.equal(images, again)
    assert set(params) == set(PARAMETERS) and all(p.shape == (40,) for p in params.values())
    assert 0.3 <= params["blur"].min() and params["blur"].max() <= 1.2
    assert 1 / 50 <= params["noise"].min() and params["noise"].max() <= 1 / 15
    assert 0 <= params["bias"].min() and params["bias"].max() <= 0.5
    # the images show the drawn contrast: myocardium / blood intensity follows the "contrast" target, measured
    # inside each tissue (masks eroded by one pixel: blur up to 1.2 px mixes the border pixels of the wall with
    # blood, and the bias field and noise scatter the rest, so the ratio follows the target loosely; unrelated
    # targets would correlate about 0 +- 0.16 at n = 40; seeds 5-12 give 0.49-0.69 on the 48 x 48 crops)
    from scipy import ndimage

    tissues = cp.sample_crops(40, seed=5, phase=None).tissues.numpy()
    ratio = []
    for image, tissue in zip(images[:, 0].numpy(), tissues):
        myo, blood = ndimage.binary_erosion(tissue == 2), ndimage.binary_erosion(tissue == 1)
        myo = myo if myo.any() else tissue == 2  # a wall too thin to erode: all of it
        ratio.append(float(image[myo].mean() / image[blood].mean()))
    assert np.corrcoef(ratio, params["contrast"])[0, 1] > 0.45


def test_pixel_spread():
    same = torch.full((5, 1, 4, 4), 0.3)
    assert pixel_spread(same) == 0.0
    two = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    assert pixel_spread(two) == pytest.approx(math.sqrt(0.5))
    assert pixel_spread(torch.stack([two, same[:2]])) == pytest.approx(math.sqrt(0.5) / 2)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="mu must have shape"):
        kl_per_dimension(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="same shape"):
        kl_per_dimension(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="one row per image"):
        probe_r2(np.zeros((5, 2)), np.zeros(4), np.zeros((3, 2)), np.zeros(3))
    codes_with_nan = np.ones((5, 2))
    codes_with_nan[0, 1] = np.nan  # a NaN column used to be dropped silently by the standardisation
    with pytest.raises(ValueError, match="codes_train holds NaN"):
        probe_r2(codes_with_nan, np.zeros(5), np.ones((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="n must be an integer"):
        probe_set(1)
    with pytest.raises(ValueError, match="images must have shape"):
        pixel_spread(torch.zeros(1, 1, 4, 4))


def test_free_bits_kl():
    mu, log_var = torch.zeros(4, 3), torch.zeros(4, 3)
    mu[:, 0] = 2.0  # KL 2 nats in dimension 0, 0 in the others
    assert float(kl_free_bits(mu, log_var, 0.0)) == pytest.approx(float(kl_standard_normal(mu, log_var).mean()))
    assert float(kl_free_bits(mu, log_var, 0.5)) == pytest.approx(2.0 + 2 * 0.5)  # the free dimensions cost lambda
    mu.requires_grad_(True)
    kl_free_bits(mu, log_var, 0.5).backward()
    assert mu.grad[:, 1:].abs().sum() == 0  # below lambda: no pull towards the prior


def _tiny_models(seed: int):
    from genlib.models.spade import SPADEGenerator
    from genlib.models.translation import PatchGANDiscriminator

    torch.manual_seed(seed)
    return (SPADEGenerator(size=32, z_dim=8, channels=8, n_up=2, hidden=4), StyleEncoder(8, 4, instance_norm=False),
            PatchGANDiscriminator(1), PatchGANDiscriminator(1))


def _tiny_data():
    g = torch.Generator().manual_seed(6)
    return torch.randint(4, (6, 32, 32), generator=g), torch.rand(6, 1, 32, 32, generator=g), torch.rand(8, 1, 32, 32,
                                                                                                          generator=g)


def test_the_first_recipe_is_train_scenario_spade_step_for_step():
    from genlib.synthesis.scenario_training import train_scenario_spade

    labels, images, target = _tiny_data()
    assert RECIPES["first"] == {"free_bits": 0.0, "prior_weight": 0.0}
    ours, theirs = _tiny_models(0), _tiny_models(0)
    h_ours = train_style_spade(*ours, labels, images, target, steps=3, batch_size=4, **RECIPES["first"])
    h_theirs = train_scenario_spade(*theirs, labels, images, target, steps=3, batch_size=4)
    # the losses of steps 2 and 3 follow the updates; Adam turns float rounding in near-zero gradients into
    # lr-sized differences of a few weights, hence rel 1e-3 rather than bitwise equality
    for key in h_theirs:
        assert h_ours[key] == pytest.approx(h_theirs[key], rel=1e-3), key


def test_the_prior_regression_trains_every_parameter_of_generator_and_encoder():
    labels, images, target = _tiny_data()
    models = _tiny_models(1)
    before = [[p.detach().clone() for p in m.parameters()] for m in models[:2]]
    history = train_style_spade(*models, labels, images, target, steps=1, batch_size=4, free_bits=0.5,
                                prior_weight=1.0)
    assert history["prior"][0] > 0
    for module, old in zip(models[:2], before):
        for (name, p), q in zip(module.named_parameters(), old):
            assert not torch.equal(p, q), f"{type(module).__name__}.{name} did not change"


def test_augment_style_keeps_the_range_and_touches_the_chosen_share():
    from genlib.synthesis.style_recipes import augment_style

    images = torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(7))
    assert torch.equal(augment_style(images, torch.Generator().manual_seed(0), p=0.0), images)
    out = augment_style(images, torch.Generator().manual_seed(0), p=1.0)
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    assert ((out - images).abs().flatten(1).amax(1) > 0).all()
    half = augment_style(images, torch.Generator().manual_seed(0), p=0.5)
    changed = int(((half - images).abs().flatten(1).amax(1) > 0).sum())
    assert 16 <= changed <= 48, changed


def test_image_statistics_read_the_drawn_style_from_the_images():
    sets = []
    for seed in (3, 4):
        tissues = cp.sample_crops(150, seed=seed, phase=None).tissues
        images, params = probe_set(150, seed=seed, tissues=tissues)
        statistics = image_statistics(images, tissues)
        assert statistics.shape == (150, len(IMAGE_STATISTICS))
        finite = np.isfinite(statistics).all(1)
        assert finite.mean() > 0.95, "a statistic is NaN in many crops: check the tissue masks' erosion fallback"
        sets.append((statistics[finite], np.stack([params[p] for p in PARAMETERS], 1)[finite]))
    r2 = dict(zip(PARAMETERS, probe_r2(*sets[0], *sets[1])))
    print("image-statistics ceiling R^2 on 150 held-out crops:", {k: round(float(v), 2) for k, v in r2.items()})
    for name in ("blur", "noise", "bias"):
        assert r2[name] > 0.5, f"the images should reveal {name}; R^2 {r2[name]:.2f}: check image_statistics"
    assert r2["contrast"] > 0.2, f"the tissue ratios should reveal some contrast; R^2 {r2['contrast']:.2f}"
    with pytest.raises(ValueError, match="tissues"):
        image_statistics(torch.zeros(2, 1, 8, 8), torch.zeros(2, 7, 8, dtype=torch.long))


def test_the_style_bench_ranks_recipes_that_beat_the_first_recipes_probe_first_then_the_rest_by_fid_ratio():
    from bench.unit07_style import choose, ranking

    figures = lambda r2, fid: {"probe_r2_mean": r2, "fid_ratio_mean": fid}  # noqa: E731
    validation = {"first": figures(0.15, 10.0), "a": figures(0.20, 9.0), "b": figures(0.10, 1.0),
                  "c": figures(0.30, 5.0)}
    assert ranking(validation) == ["c", "a", "b", "first"], \
        "recipes whose probe R^2 beats 'first' come first (by FID ratio), then the rest (by FID ratio)"
    assert choose(validation) == "c"
    alone = {"first": figures(0.15, 10.0), "a": figures(0.20, 9.0), "b": figures(0.10, 1.0)}
    assert ranking(alone)[:2] == ["a", "b"], "with one eligible recipe, the runner-up is the best of the rest"
    nobody = {"first": figures(0.15, 10.0), "a": figures(0.10, 9.0), "b": figures(0.10, 12.0)}
    assert ranking(nobody) == ["a", "first", "b"], "when no recipe beats 'first', every recipe is ranked by FID"


def test_code_in_every_layer_recipe_builds_the_generator_option():
    from genlib.synthesis.style_recipes import RECIPES

    assert RECIPES["code in every layer"]["generator"] == {"code_in_layers": True}
    assert {k: v for k, v in RECIPES["code in every layer"].items() if k != "generator"} == \
        RECIPES["style augmentation + prior regression"], "the recipe must change the generator only"


def test_tissue_means_average_each_labels_pixels_over_the_set():
    from genlib.synthesis.style_probe import tissue_means

    labels = torch.tensor([[[0, 1], [2, 3]], [[0, 0], [2, 2]]])  # (2, 2, 2): label 1 and 3 only in the first image
    images = torch.tensor([[[[0.0, 0.2], [0.4, 0.6]]], [[[0.1, 0.3], [0.5, 0.7]]]])  # (2, 1, 2, 2)
    np.testing.assert_allclose(tissue_means(images, labels), [(0.0 + 0.1 + 0.3) / 3, 0.2, (0.4 + 0.5 + 0.7) / 3, 0.6])
    assert np.isnan(tissue_means(images, labels, n_labels=5)[4]), "a label with no pixel has no mean: NaN"
    with pytest.raises(ValueError, match=r"images must be \(N, 1, H, W\) and labels \(N, H, W\)"):
        tissue_means(images, labels[:1])


def test_vendor_from_code_reads_a_vendor_the_code_carries_and_not_one_it_lacks(monkeypatch):
    import bench.unit07_style as bench

    monkeypatch.setattr(bench, "N_FID", 40)
    g = torch.Generator().manual_seed(0)
    images = lambda level: level + 0.05 * torch.rand(40, 1, 8, 8, generator=g)  # noqa: E731
    data = {f"{kind} {vendor}": images(level) for kind in ("unlabelled", "reference")
            for vendor, level in (("B", 0.2), ("C", 0.6))}

    class MeanEncoder(torch.nn.Module):  # mu = (mean intensity, a constant): the vendor is in the first number
        def forward(self, x):
            mu = torch.stack([x.mean((1, 2, 3)), torch.ones(len(x))], 1)
            return mu, torch.zeros_like(mu)

    class NoiseEncoder(torch.nn.Module):  # mu is noise: nothing of the vendor
        def forward(self, x):
            mu = torch.randn(len(x), 2, generator=g)
            return mu, torch.zeros_like(mu)

    assert bench.vendor_from_code(MeanEncoder(), data) == 1.0
    chance = bench.vendor_from_code(NoiseEncoder(), data)
    assert 0.2 < chance < 0.8, f"a code of noise should score near chance, got {chance}"


def test_the_vendor_term_needs_the_target_vendors():
    labels, images, target = _tiny_data()
    with pytest.raises(ValueError, match="target_vendors"):
        train_style_spade(*_tiny_models(3), labels, images, target, steps=1, batch_size=4, vendor_code_weight=1.0)


def test_the_vendor_term_makes_the_first_code_dimension_tell_the_vendors_apart():
    labels, images, _ = _tiny_data()
    g = torch.Generator().manual_seed(9)
    target = torch.cat([0.2 + 0.1 * torch.rand(8, 1, 32, 32, generator=g), 0.6 + 0.1 * torch.rand(8, 1, 32, 32, generator=g)])
    vendors = torch.tensor([0] * 8 + [1] * 8)
    first_dimension = {}
    for weight in (0.0, 1.0):
        models = _tiny_models(4)
        train_style_spade(*models, labels, images, target, steps=40, batch_size=8, target_vendors=vendors,
                          vendor_code_weight=weight)
        with torch.no_grad():
            mu = models[1].eval()(target)[0][:, 0]
        first_dimension[weight] = float(mu[8:].mean() - mu[:8].mean())  # C minus B
    print("C - B of the first code dimension, without and with the vendor term:", first_dimension)
    assert first_dimension[1.0] > 1.0, f"with the vendor term, mu_1 should be C's logit; C - B = {first_dimension[1.0]:.2f}"
    assert first_dimension[1.0] > first_dimension[0.0] + 0.5, first_dimension


def test_vendor_in_the_code_recipe_is_code_in_every_layer_plus_the_vendor_term():
    from genlib.synthesis.style_recipes import RECIPES

    extra = {k: v for k, v in RECIPES["vendor in the code"].items() if k != "vendor_code_weight"}
    assert extra == RECIPES["code in every layer"], "the recipe must add the vendor term and change nothing else"
    assert RECIPES["vendor in the code"]["vendor_code_weight"] > 0


def test_the_committed_style_table_was_made_with_the_current_recipes():
    from genlib import results
    from genlib.synthesis.style_recipes import RECIPES

    table = results.load("unit07_style_table")
    assert list(table["validation"]) == list(RECIPES), \
        "the table was made with other recipes: rerun bench/unit07_style.py"
    assert table["chosen"] in RECIPES and table["runner_up"] in RECIPES and table["chosen"] != table["runner_up"]
    for recipe in (table["chosen"], table["runner_up"]):
        seeds = table["encoders"][f"recipe: {recipe} ({table['steps']} steps)"]["seeds"]
        assert len(seeds) == 3, \
            f"the chosen recipe and the runner-up are trained with three seeds; {recipe!r} has {len(seeds)}"


def test_rescoring_the_shipped_models_replaces_their_rows_and_keeps_the_recipes(monkeypatch, tmp_path):
    """``bench/unit07_style.py --shipped`` (after ``make weights``): the two shipped rows are scored again, every
    recipe row stays as committed, and the table says when it was rescored."""
    import json

    import bench.unit07_style as bench
    from genlib import results

    table = results.load("unit07_style_table")
    copy = tmp_path / "unit07_style_table.json"
    copy.write_text(json.dumps(table))
    monkeypatch.setattr(results, "path", lambda name: copy)
    monkeypatch.setattr(bench, "_split_data", lambda split: {"split": split})
    scored = []

    def fake_evaluate(generator, encoder, data):
        scored.append((type(generator).__name__, data["split"]))
        figures = json.loads(json.dumps(table["encoders"]["scenario shipped (1200 steps)"]["seeds"]["shipped"]))
        figures["vendor_from_code"] = 0.5 + len(scored) / 100  # marks the rows this call wrote
        return figures

    monkeypatch.setattr(bench, "evaluate", fake_evaluate)
    new = bench.rescore_shipped()
    shipped = ["unit 03 (load_conditional('spade'))", "scenario shipped (1200 steps)"]
    assert scored == [("SPADEGenerator", "test")] * 2, f"both shipped models, on the test split: {scored}"
    assert [new["encoders"][name]["mean"]["vendor_from_code"] for name in shipped] == [0.51, 0.52]
    assert {k: v for k, v in new["encoders"].items() if k not in shipped} == \
        {k: v for k, v in table["encoders"].items() if k not in shipped}, "a recipe's row changed"
    assert new["validation"] == table["validation"] and new["chosen"] == table["chosen"]
    assert json.loads(copy.read_text())["shipped_rescored"]["commit"] == new["shipped_rescored"]["commit"]


def test_vendor_indices_number_two_vendors_in_sorted_order_and_refuse_other_counts():
    from genlib.synthesis.style_recipes import vendor_indices

    images = torch.zeros(4, 1, 8, 8)
    assert vendor_indices({"images": images, "vendors": ["C", "B", "B", "C"]}).tolist() == [1, 0, 0, 1]
    assert vendor_indices({"images": images, "vendors": ["Siemens", "Philips"] * 2}).tolist() == [1, 0, 1, 0]
    for vendors in (["B"] * 4, ["A", "B", "C", "A"], ["B", "C"]):
        with pytest.raises(ValueError, match="two vendors in all"):
            vendor_indices({"images": images, "vendors": vendors})
    with pytest.raises(ValueError, match="pass target\\['vendors'\\]"):
        vendor_indices({"images": images})


def test_the_shipped_scenario_model_is_built_and_trained_with_the_scenario_recipe(monkeypatch):
    """``load_synthesis("scenario_spade")`` builds ``SCENARIO_RECIPE``'s generator, and ``fit_scenario_spade``
    trains that recipe, or, when the target images do not have exactly two vendors (real data), the same
    networks without the vendor term."""
    from genlib.synthesis import scenario_training, style_recipes
    from genlib.synthesis.pretrained import load_synthesis
    from genlib.synthesis.style_recipes import RECIPES, SCENARIO_RECIPE

    generator, _ = load_synthesis("scenario_spade")
    assert generator.code_in_layers == RECIPES[SCENARIO_RECIPE].get("generator", {}).get("code_in_layers", False)
    trained = []
    monkeypatch.setattr(style_recipes, "fit_style_spade", lambda site, target, steps, recipe, seed: trained.append(
        (recipe, seed)))
    images = torch.zeros(4, 1, 8, 8)
    for vendors in (["B", "C", "C", "B"], ["B"] * 4, ["B", "C", "D", "B"]):
        scenario_training.fit_scenario_spade({}, {"images": images, "vendors": vendors}, 1)
    fallback = "code in every layer"
    assert trained == [(SCENARIO_RECIPE, 0), (fallback, 0), (fallback, 0)]
    assert {k: v for k, v in RECIPES[SCENARIO_RECIPE].items() if k != "vendor_code_weight"} == RECIPES[fallback]


def test_the_vendor_b_budget_pilot_holds_each_model_to_the_fid_and_spread_targets_and_averages_seeds(monkeypatch):
    from bench import unit07_style_steps as pilot

    def figures(ratio_b, ratio_c, spread):
        return {"fid": {"B": {"synthetic": 10 * ratio_b, "floor": 10.0, "ratio": ratio_b},
                        "C": {"synthetic": 10 * ratio_c, "floor": 10.0, "ratio": ratio_c}},
                "spread": {"ratio": spread}}

    table = {"runs": [{"steps": 1200, "seed": 0, "shipped": True,
                       "validation": figures(10.0, 2.5, 1.07), "test": figures(10.0, 1.5, 1.22)},
                      {"steps": 2400, "seed": 0, "shipped": False,
                       "validation": figures(1.5, 1.9, 1.0), "test": figures(2.5, 1.9, 0.9)},
                      {"steps": 2400, "seed": 1, "shipped": False,
                       "validation": figures(2.5, 1.9, 1.0), "test": figures(4.5, 1.9, 0.9)}]}
    rows = {row["item"]: row for row in pilot.rows(table)}
    shipped = "scenario SPADE, 1200 steps, seed 0 (shipped), test split"
    assert rows[f"{shipped}: FID synthetic / real-vs-real floor"]["within"] is False, \
        "a B ratio of 10x misses the 2x target even when C's meets it"
    assert rows[f"{shipped}: per-pixel spread across styles / real renders' spread"]["within"] is False, \
        "a spread ratio of 1.22 lies outside 0.8-1.2"
    assert rows["scenario SPADE, 2400 steps, seed 0, validation split: FID synthetic / real-vs-real floor"]["within"], \
        "B 1.5x and C 1.9x both meet the 2x target"
    mean = rows["2400 steps, mean over 2 seeds, validation split: FID / floor vendor B"]
    assert mean["measured"] == "2.00x" and mean["within"] is True, "the mean over seeds of 1.5x and 2.5x is 2.0x"
    assert rows["2400 steps, mean over 2 seeds, test split: FID / floor vendor B"]["within"] is False
    assert pilot.SHIPPED not in pilot.JOBS, "the shipped model is loaded, not trained again"
