# portcullis: a token authorization service for container registries.
#
#   docker build -t portcullis .
#   docker run --read-only -v portcullis:/var/lib/portcullis -p 5001:5001 \
#     -e PORTCULLIS_SERVER__PUBLIC_URL=https://auth.example.com portcullis
#
# Not built on the machine this project is developed on (it has no container engine that
# can pull base images); `tests/deploy_manifests.rs` checks what can be checked without one.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
COPY benches benches
RUN cargo build --release --locked --bin portcullis

# Minimal runtime: glibc and CA certificates, no shell, no package manager, user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
COPY policies /etc/portcullis/policies
# Keys, data and policies on volumes; the root filesystem can be read-only.
ENV PORTCULLIS_SERVER__LISTEN=0.0.0.0:5001 \
    PORTCULLIS_KEYS__DIR=/var/lib/portcullis/keys \
    PORTCULLIS_STORE__URL=sqlite:///var/lib/portcullis/data/portcullis.db \
    PORTCULLIS_POLICIES__DIR=/etc/portcullis/policies \
    TMPDIR=/var/lib/portcullis/tmp
VOLUME ["/var/lib/portcullis"]
USER 65532:65532
EXPOSE 5001
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/usr/local/bin/portcullis", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
