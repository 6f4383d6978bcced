# Deploying to AWS (docs/deploy.md). Included from the Makefile; also usable on its own:
#   make -f mk/deploy.mk plan
# Every target that needs terraform, the AWS CLI with credentials, or a Docker engine checks for
# it first and stops at once saying what is missing.

TERRAFORM ?= terraform
AWS ?= aws
DOCKER ?= docker
NODE ?= node
TF_DIR ?= terraform
# The image's platform; task_cpu_architecture follows it (linux/arm64 -> ARM64).
DOCKER_PLATFORM ?= linux/amd64
IMAGE_NAME ?= cartpipe
# Set AUTO_APPROVE=1 to apply or destroy without Terraform's confirmation prompt.
AUTO_APPROVE ?=

# terraform/locals.tf lambda_zip_path points here (test/infra checks they agree).
LAMBDA_ZIP := dist/lambda/orchestrator.zip
IMAGE_TAG_FILE := dist/image-tag
DEPLOY_MK := $(lastword $(MAKEFILE_LIST))
TF := $(TERRAFORM) -chdir=$(TF_DIR)
TF_ARCH := $(if $(filter linux/arm64,$(DOCKER_PLATFORM)),ARM64,X86_64)
TF_APPROVE := $(if $(AUTO_APPROVE),-auto-approve,)
# Short timeouts and one attempt: a machine without network or credentials fails fast.
AWS_QUICK := AWS_MAX_ATTEMPTS=1 AWS_PAGER= $(AWS) --cli-connect-timeout 5 --cli-read-timeout 10

.PHONY: package image push plan deploy destroy tf-fmt tf-fmt-check image-check glue-schemas \
	glue-schemas-check check-terraform check-aws check-docker tf-init ecr-repository tf-apply

# ---- checks ---------------------------------------------------------------------------------

check-terraform:
	@command -v $(TERRAFORM) >/dev/null 2>&1 || { \
	  echo "make $(MAKECMDGOALS): terraform not found (looked for '$(TERRAFORM)' on PATH)." >&2; \
	  echo "  Install Terraform >= 1.6, or set TERRAFORM=/path/to/terraform. See docs/deploy.md." >&2; \
	  exit 1; }

check-aws:
	@command -v $(AWS) >/dev/null 2>&1 || { \
	  echo "make $(MAKECMDGOALS): the AWS CLI was not found (looked for '$(AWS)' on PATH)." >&2; \
	  echo "  Install AWS CLI v2, or set AWS=/path/to/aws. See docs/deploy.md." >&2; \
	  exit 1; }
	@account=$$($(AWS_QUICK) sts get-caller-identity --query Account --output text 2>/dev/null) && [ -n "$$account" ] || { \
	  echo "make $(MAKECMDGOALS): no usable AWS credentials ('$(AWS) sts get-caller-identity' failed)." >&2; \
	  echo "  Configure them (aws configure, aws sso login, or AWS_PROFILE / AWS_ACCESS_KEY_ID) and retry." >&2; \
	  exit 1; }; \
	echo "AWS account $$account"

check-docker:
	@command -v $(DOCKER) >/dev/null 2>&1 || { \
	  echo "make $(MAKECMDGOALS): docker not found (looked for '$(DOCKER)' on PATH)." >&2; \
	  echo "  Install Docker (or set DOCKER=podman). Without an engine, scripts/image-build-check.sh runs the build steps." >&2; \
	  exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { \
	  echo "make $(MAKECMDGOALS): '$(DOCKER)' is installed but its engine is not reachable ('$(DOCKER) info' failed)." >&2; \
	  echo "  Start the Docker daemon (or Docker Desktop) and retry." >&2; \
	  exit 1; }

# ---- build ----------------------------------------------------------------------------------

package: ## bundle the orchestrator Lambda (esbuild) into dist/lambda/orchestrator.zip
	@[ -d node_modules/esbuild ] || { echo "make package: dependencies are not installed: run 'make install' first." >&2; exit 1; }
	$(NODE) scripts/package-lambda.mjs --entry lambdas/orchestrator.ts \
	  --outdir $(dir $(LAMBDA_ZIP)) --name $(basename $(notdir $(LAMBDA_ZIP)))

image: check-docker ## build the job image (one image for every stage) and record its tag
	@mkdir -p dist
	@tag="$${IMAGE_TAG:-$$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)-$$(date -u +%Y%m%d%H%M%S)}"; \
	echo "+ $(DOCKER) build --platform $(DOCKER_PLATFORM) -f docker/Dockerfile -t $(IMAGE_NAME):$$tag ."; \
	$(DOCKER) build --platform $(DOCKER_PLATFORM) -f docker/Dockerfile -t $(IMAGE_NAME):$$tag . && \
	echo "$$tag" > $(IMAGE_TAG_FILE) && echo "image $(IMAGE_NAME):$$tag (tag saved in $(IMAGE_TAG_FILE))"

image-check: ## run the image's build steps and each stage's command without Docker
	./scripts/image-build-check.sh

push: check-terraform check-aws check-docker ## push the image built by `make image` to the stack's ECR repository
	@[ -s $(IMAGE_TAG_FILE) ] || { echo "make push: no image built yet: run 'make image' first." >&2; exit 1; }
	@repo=$$($(TF) output -raw ecr_repository_url 2>/dev/null) && [ -n "$$repo" ] || { \
	  echo "make push: the ECR repository does not exist yet (no 'ecr_repository_url' output): run 'make deploy'." >&2; exit 1; }; \
	tag=$$(cat $(IMAGE_TAG_FILE)); registry=$${repo%%/*}; region=$$(echo "$$registry" | cut -d. -f4); \
	echo "+ docker login $$registry"; \
	$(AWS) ecr get-login-password --region "$$region" | $(DOCKER) login --username AWS --password-stdin "$$registry" && \
	$(DOCKER) tag $(IMAGE_NAME):$$tag $$repo:$$tag && \
	$(DOCKER) push $$repo:$$tag

# ---- terraform ------------------------------------------------------------------------------

tf-init: check-terraform
	$(TF) init -input=false

# The tag Terraform deploys: IMAGE_TAG, else the last `make image`, else what is deployed now.
define image_tag
$$(if [ -n "$(IMAGE_TAG)" ]; then echo "$(IMAGE_TAG)"; \
   elif [ -s $(IMAGE_TAG_FILE) ]; then cat $(IMAGE_TAG_FILE); \
   else $(TF) output -raw ecs_task_image_tag 2>/dev/null || echo not-pushed-yet; fi)
endef

plan: check-terraform check-aws glue-schemas-check package tf-init ## show what `make deploy` would change
	@tag="$(image_tag)"; \
	[ "$$tag" != not-pushed-yet ] || echo "note: no image built yet; planning with image_tag=not-pushed-yet (make deploy builds and pushes one)"; \
	echo "+ terraform plan (image_tag=$$tag)"; \
	$(TF) plan -input=false -var "image_tag=$$tag" -var "task_cpu_architecture=$(TF_ARCH)"

ecr-repository: check-terraform check-aws tf-init
	$(TF) apply -input=false -auto-approve -target=aws_ecr_repository.this -var "image_tag=bootstrap"

tf-apply: check-terraform check-aws
	@tag="$(image_tag)"; \
	echo "+ terraform apply (image_tag=$$tag)"; \
	$(TF) apply -input=false $(TF_APPROVE) -var "image_tag=$$tag" -var "task_cpu_architecture=$(TF_ARCH)"

# The repository must exist before the first push, so it is applied on its own first.
deploy: check-terraform check-aws check-docker ## package, build and push the image, then terraform apply
	@$(MAKE) --no-print-directory -f $(DEPLOY_MK) glue-schemas-check
	@$(MAKE) --no-print-directory -f $(DEPLOY_MK) package
	@$(MAKE) --no-print-directory -f $(DEPLOY_MK) ecr-repository
	@$(MAKE) --no-print-directory -f $(DEPLOY_MK) image
	@$(MAKE) --no-print-directory -f $(DEPLOY_MK) push
	@$(MAKE) --no-print-directory -f $(DEPLOY_MK) tf-apply
	@$(TF) output

destroy: check-terraform check-aws ## delete the stack (the bucket and repository must be empty unless force_destroy is set)
	@tag="$(image_tag)"; \
	$(TF) destroy -input=false $(TF_APPROVE) -var "image_tag=$$tag"

# ---- generated files and formatting --------------------------------------------------------

glue-schemas: ## regenerate terraform/glue-schemas.json (Athena columns) from the profiles
	$(NODE) scripts/glue-schemas.mjs

glue-schemas-check:
	@$(NODE) scripts/glue-schemas.mjs --check


tf-fmt: ## format terraform/ like `terraform fmt` (no terraform binary needed)
	$(NODE) scripts/tf-fmt.mjs $(TF_DIR)

tf-fmt-check: ## fail when terraform/ is not formatted
	$(NODE) scripts/tf-fmt.mjs $(TF_DIR) --check
