# One entry point for everything; every target that needs Python creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test test-full train-sprites train-sprites-latents train-sprites-large judge-sprites eval-sprites sweep-sprites data-sprites bench-data \
	bench-model bench-efficiency bench-sampler train-talking-heads data-talking-heads bench-talking-heads train-autoencoder-sprites \
	train-autoencoder-talking-heads eval-autoencoder bench-latents tensorboard clean

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-18s %s\n",$$1,$$2}'

# torch first, pinned (a CPU wheel here; the usual build on a user's machine), then the project in editable
# mode through constraints.txt so nothing can swap torch. Re-runs do nothing until pyproject.toml changes.
# The `faces` extra (mediapipe, for face crops and the real-clip tests) holds protobuf < 5 and tensorboard < 2.21.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,faces,diffusers]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project (done by every target on first use)

test: $(STAMP)  ## fast tests (CI runs this)
	$(PY) -m pytest -m "not slow" -q $(ARGS)

test-full: $(STAMP)  ## all tests, including full dataset builds
	$(PY) -m pytest -q $(ARGS)

train-sprites: $(STAMP)  ## train BCD on Sprites on this machine (CPU default, <= 30 min); ARGS to override
	$(VENV)/bin/motioncontent fit --config configs/sprites.yaml $(ARGS)

train-sprites-large: $(STAMP)  ## train the GPU-scale Sprites config (configs/sprites_large.yaml)
	$(VENV)/bin/motioncontent fit --config configs/sprites_large.yaml $(ARGS)

# The appearance stack (configs/presets/layout_latents.yaml, then mined_partners.yaml): needs the Sprites codec
# (make train-autoencoder-sprites).
LATENT_STACK := --config configs/sprites.yaml --config configs/presets/colour_content.yaml \
	--config configs/presets/sprites_latents.yaml --config configs/presets/layout_content.yaml \
	--config configs/presets/layout_latents.yaml --config configs/presets/mined_partners.yaml
train-sprites-latents: $(STAMP)  ## BCD on the Sprites codec's latents, mirrored layout content, mined partners, guidance (<= 30 min)
	$(VENV)/bin/motioncontent fit $(LATENT_STACK) $(ARGS)

judge-sprites: $(STAMP)  ## train the Sprites judge classifier -> checkpoints/judge_sprites.ckpt
	$(VENV)/bin/motioncontent fit --config configs/judge_sprites.yaml $(ARGS)
	$(VENV)/bin/motioncontent test --config configs/judge_sprites.yaml --ckpt_path checkpoints/judge_sprites.ckpt

# The newest checkpoint of `make train-sprites` unless CKPT=... is given.
CKPT ?= $(shell ls -t logs/sprites/version_*/checkpoints/last.ckpt 2>/dev/null | head -1)
eval-sprites: $(STAMP)  ## score a BCD checkpoint (CKPT=..., default the newest train-sprites run) with the judge
	$(VENV)/bin/motioncontent eval sprites --config configs/sprites.yaml --ckpt_path "$(CKPT)" $(ARGS)

# Each target trains the default config (~30 min here), then scores it; re-running skips finished targets.
TARGETS ?= 3 6 9 12
sweep-sprites: $(STAMP)  ## rate sweep: train + score configs/sprites.yaml at TARGETS bits/frame -> outputs/sweep_sprites
	$(VENV)/bin/motioncontent eval sweep-sprites --targets $(TARGETS) $(ARGS)

data-sprites: $(STAMP)  ## build (or verify) the Sprites cache; ARGS="--data.source=lpc --data.lpc_root=DIR"
	$(VENV)/bin/motioncontent data sprites --config configs/sprites.yaml $(ARGS)

bench-data: $(STAMP)  ## dataset build time and DataLoader throughput for both sources
	$(PY) benchmarks/sprites_data.py $(ARGS)

bench-model: $(STAMP)  ## BCD training clips/s and sampling frames/s for the Sprites configs
	$(PY) benchmarks/bcd_speed.py $(ARGS)

bench-efficiency: $(STAMP)  ## training step time, clips/s, peak memory and MFU (large Sprites, 128 px heads; GPU if any)
	$(PY) benchmarks/train_efficiency.py $(ARGS)

bench-sampler: $(STAMP)  ## PSNR of Euler/Heun at 1-40 steps on a sprite memorisation probe (~1 min)
	$(PY) benchmarks/sampler_probe.py $(ARGS)

.PHONY: bench-soak
bench-soak: $(STAMP)  ## memory soak: train configs/sprites.yaml 20 min, fail if memory grows >= 5% after epoch 1; ARGS="--minutes N"
	$(PY) benchmarks/soak.py $(ARGS)

# SIZE=64 (default): pixel space, configs/talking_heads.yaml. SIZE=128: on the latents of the frame autoencoder
# (configs/talking_heads_128.yaml), which `make train-autoencoder-talking-heads` must have trained first.
SIZE ?= 64
train-talking-heads: $(STAMP)  ## train BCD on synthetic talking heads (CPU); SIZE=128 on codec latents; ARGS to override
	$(VENV)/bin/motioncontent fit --config configs/talking_heads$(if $(filter 128,$(SIZE)),_128).yaml $(ARGS)

train-autoencoder-sprites: $(STAMP)  ## train the Sprites frame codec -> checkpoints/autoencoder_sprites.ckpt
	$(VENV)/bin/motioncontent fit --config configs/autoencoder_sprites.yaml $(ARGS)

train-autoencoder-talking-heads: $(STAMP)  ## train the 128 px talking-head codec -> checkpoints/autoencoder_talking_heads_128.ckpt
	$(VENV)/bin/motioncontent fit --config configs/autoencoder_talking_heads.yaml $(ARGS)

# CODEC=talking-heads (default; also scores the real sample clips in ../shared/talking_heads) or CODEC=sprites
# (with the Sprites judge's accuracy on the round trips when checkpoints/judge_sprites.ckpt exists).
CODEC ?= talking-heads
eval-autoencoder: $(STAMP)  ## codec-only PSNR/SSIM on held-out frames (CODEC=talking-heads|sprites); ARGS="--bcd CKPT"
ifeq ($(CODEC),sprites)
	$(PY) benchmarks/codec_quality.py --codec checkpoints/autoencoder_sprites.ckpt \
		--data_config configs/autoencoder_sprites.yaml \
		$(if $(wildcard checkpoints/judge_sprites.ckpt),--judge checkpoints/judge_sprites.ckpt) $(ARGS)
else
	$(PY) benchmarks/codec_quality.py --codec checkpoints/autoencoder_talking_heads_128.ckpt \
		--data_config configs/autoencoder_talking_heads.yaml --real ../shared/talking_heads $(ARGS)
endif

bench-latents: $(STAMP)  ## BCD training clips/s at 128 px: pixel codec vs latent codec (on the fly, cached)
	$(PY) benchmarks/latent_speed.py $(ARGS)

# SRC: a folder of videos or a .txt list; DST defaults to data/talking_heads/<SRC name>.
data-talking-heads: $(STAMP)  ## preprocess your videos: SRC=dir [DST=dir] [ARGS="--size 128 --crop detect"]
	@test -n "$(SRC)" || { echo "usage: make data-talking-heads SRC=path/to/videos [DST=cache_dir] [ARGS=...]" >&2; exit 2; }
	$(VENV)/bin/motioncontent data talking-heads --src "$(SRC)" $(if $(DST),--dst "$(DST)") $(ARGS)

bench-talking-heads: $(STAMP)  ## talking-head preprocessing frames/s (with and without detection), loader clips/s
	$(PY) benchmarks/talking_heads_data.py $(ARGS)

# Issue 7: the motion prior, motion transfer and the motion bitstream on the talking-head model. BCD defaults to the
# newest `make train-talking-heads` checkpoint; override with BCD=path/to.ckpt.
.PHONY: train-prior-talking-heads predict-talking-heads
BCD ?= $(shell ls -t logs/talking_heads/version_*/checkpoints/last.ckpt 2>/dev/null | head -1)
train-prior-talking-heads: $(STAMP)  ## train the motion prior on a talking-head BCD model's codes (BCD=...)
	$(VENV)/bin/motioncontent fit --config configs/prior_talking_heads.yaml --model.init_args.bcd_checkpoint "$(BCD)" $(ARGS)

predict-talking-heads: $(STAMP)  ## demo transfer: content of sample clip d0, motion of d18 -> outputs/predict (BCD=...)
	$(VENV)/bin/motioncontent predict --config configs/predict_talking_heads.yaml --model.init_args.bcd_checkpoint "$(BCD)" \
		--data.init_args.source ../shared/talking_heads/liveportrait_d0.mp4 \
		--data.init_args.driving ../shared/talking_heads/liveportrait_d18.mp4 $(ARGS)

# Talking-head metrics. The judge (identity embedding, motion and identity factors) trains on the synthetic
# training people; eval scores reconstruction and cross-identity transfer of BCD=... on the test people.
.PHONY: judge-talking-heads eval-talking-heads
judge-talking-heads: $(STAMP)  ## train the talking-head judge -> checkpoints/judge_talking_heads.ckpt
	$(VENV)/bin/motioncontent fit --config configs/judge_talking_heads.yaml $(ARGS)
	$(VENV)/bin/motioncontent test --config configs/judge_talking_heads.yaml --ckpt_path checkpoints/judge_talking_heads.ckpt

eval-talking-heads: $(STAMP)  ## score a talking-head BCD checkpoint (BCD=...) -> outputs/eval_talking_heads
	$(VENV)/bin/motioncontent eval talking-heads --config configs/talking_heads.yaml --ckpt_path "$(BCD)" $(ARGS)

tensorboard: $(STAMP)  ## dashboards of every run under logs/
	$(VENV)/bin/tensorboard --logdir logs --host 127.0.0.1

clean:  ## remove caches of Python and pytest (not data/, logs/ or .venv)
	find . -name __pycache__ -prune -exec rm -rf {} + ; rm -rf .pytest_cache
