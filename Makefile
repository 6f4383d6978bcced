# cartpipe: every developer and CI entry point. `make demo` and `make test` are the quick start.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM ?= npm
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: help install build lint fmt test test-unit test-moto demo all clean

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(NODE_MODULES_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES_STAMP) ## install dependencies (npm ci)

build: install ## compile TypeScript to dist/
	$(NPM) run build

lint: install ## type check, eslint, prettier, terraform fmt check, Glue schemas up to date
	npx tsc --noEmit -p tsconfig.json
	$(NPM) run lint
	$(MAKE) --no-print-directory tf-fmt-check glue-schemas-check

fmt: install tf-fmt ## format sources (prettier) and Terraform (hcl-tools)
	$(NPM) run fmt

test: build lint ## run every test: lint (types, eslint, prettier, terraform fmt), unit, local S3/DynamoDB, moto tier, infrastructure, image build steps
	@# ts-jest compiles each test without checking its types: lint's type check covers sources and tests.
	$(NPM) test
	$(MAKE) --no-print-directory image-check

demo: build ## run a sample thelook batch on the local runtime and print the KPIs
	./scripts/demo.sh

all: install lint test build ## install, lint, test, build

clean: ## remove build output and the local data folder
	rm -rf dist .cartpipe coverage

include mk/deploy.mk
