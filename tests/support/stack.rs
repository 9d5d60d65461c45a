//! The usual end-to-end set-up: `portcullis serve` with the fixture policies and some
//! users, Debian's registry configured from its `registry-config` output, and a one-layer
//! test image to push.

use super::image::{make_test_image, oci_ref};
use super::portcullis::Portcullis;
use super::registry::Registry;

pub struct Stack {
    pub portcullis: Portcullis,
    pub registry: Registry,
    pub image: tempfile::TempDir,
}

impl Stack {
    /// portcullis with `env` (extra `PORTCULLIS_*` settings) and `users`
    /// (`(name, password, groups)`), and a registry trusting it.
    pub fn start(env: &[(&str, &str)], users: &[(&str, &str, &[&str])]) -> Stack {
        let portcullis = Portcullis::start(&Portcullis::fixture_policies(), env);
        for (name, password, groups) in users {
            portcullis.add_user(name, password, groups);
        }
        Stack::around(portcullis)
    }

    /// A registry trusting `portcullis`, and the test image.
    pub fn around(portcullis: Portcullis) -> Stack {
        let registry = Registry::start(&portcullis.registry_config());
        let image = tempfile::tempdir().expect("temp dir");
        make_test_image(image.path(), "v1", "hello from portcullis e2e");
        Stack {
            portcullis,
            registry,
            image,
        }
    }

    /// The test image, as an `oci:` reference for skopeo.
    pub fn src(&self) -> String {
        oci_ref(self.image.path(), "v1")
    }

    /// `NAME:TAG` in the registry, as a `docker://` reference.
    pub fn dst(&self, name_and_tag: &str) -> String {
        self.registry.docker_ref(name_and_tag)
    }
}
