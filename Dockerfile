# One image with every binary of the project; docker-compose.yml picks the command.
# The contract artifacts are committed, so no Solidity compiler is needed here.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p quote-service -p coordination-node -p prover-node -p proposer -p devnet -p quote-tool \
 && mkdir /out \
 && cp target/release/quote-service target/release/coordination-node target/release/prover-node \
       target/release/proposer target/release/deploy-contracts target/release/quote-tool /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /data app
COPY --from=build /out/ /usr/local/bin/
COPY services/quote-service/policy.example.toml /etc/prover-coordination/policy.toml
USER app
WORKDIR /data
