// The proxies take the visibility `vis` gives (`pub` by default): a `pub(crate)` type's
// proxies can be `pub(crate)`, and a private type's private, with private argument
// types and no "private type in public interface". The one error: a `pub(super)`
// proxy used from outside its parent.
use manager_client::serde::{Deserialize, Serialize};
use manager_client::shared;

mod outer {
    pub mod inner {
        use super::super::*;

        #[derive(Default)]
        pub(crate) struct Shown;

        #[shared(vis = "pub(crate)")]
        impl Shown {
            pub fn get(&self) -> u32 {
                1
            }
        }

        #[derive(Default)]
        pub(super) struct Scoped;

        #[shared(vis = "pub(super)")]
        impl Scoped {
            pub fn get(&self) -> u32 {
                2
            }
        }

        #[derive(Serialize, Deserialize)]
        #[serde(crate = "manager_client::serde")]
        struct Secret(u32);

        #[derive(Default)]
        struct Hidden;

        #[shared(vis = "")]
        impl Hidden {
            pub fn echo(&self, secret: Secret) -> Secret {
                secret
            }
        }

        pub(crate) fn hidden_proxy_here() -> Option<HiddenProxy> {
            None
        }
    }

    pub(crate) fn scoped_proxy_in_parent() -> Option<inner::ScopedProxy> {
        None
    }
}

fn main() {
    let _: Option<outer::inner::ShownProxy> = None;
    let _: Option<outer::inner::ShownBlockingProxy> = None;
    let _ = (outer::scoped_proxy_in_parent, outer::inner::hidden_proxy_here);
    let _: Option<outer::inner::ScopedProxy> = None;
}
