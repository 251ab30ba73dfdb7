//! The generated code is hygienic: it compiles with no prelude, and it finds the
//! protocol crate although this package renames it (`wire = { package =
//! "manager-proto" }` in Cargo.toml).

#[allow(dead_code)]
mod no_prelude {
    #![no_implicit_prelude]

    #[derive(::std::default::Default)]
    pub struct Bare {
        n: u32,
    }

    // Names a user might shadow, to show the generated code never relies on them.
    pub struct Result;
    pub struct Ok;
    pub struct Vec;
    pub struct String;
    pub struct Box;
    pub struct Option;
    pub struct C;

    #[::manager_client::shared]
    impl Bare {
        pub fn add(&mut self, client: u32, args: u32) -> u32 {
            self.n += client + args;
            self.n
        }
        pub async fn get(&self) -> u32 {
            self.n
        }
        pub fn fallible(&self, fail: bool) -> ::core::result::Result<u32, ::std::string::String> {
            if fail {
                ::core::result::Result::Err(<::std::string::String as ::core::convert::From<&str>>::from("no"))
            } else {
                ::core::result::Result::Ok(self.n)
            }
        }
    }
}

#[allow(dead_code)]
mod no_prelude_interface {
    #![no_implicit_prelude]

    pub struct Result;
    pub struct Ok;
    pub struct Box;
    pub struct Option;

    /// An interface and its implementation, without a prelude either.
    #[::manager_client::shared(id = "tests.BareInterface")]
    pub trait Adder {
        fn add(&self, args: u32, method: u32) -> u32;
        async fn twice(&self, x: u32) -> u32;
    }

    #[derive(::std::default::Default)]
    pub struct Impl;

    #[::manager_server::shared]
    impl Adder for Impl {
        fn add(&self, args: u32, method: u32) -> u32 {
            args + method
        }
        async fn twice(&self, x: u32) -> u32 {
            x * 2
        }
    }
}

#[tokio::test]
async fn generated_code_without_a_prelude_works() {
    let (_dir, server) = crate::util::start(manager_server::Server::builder().register::<no_prelude::Bare>()).await;
    let client = manager_client::Client::connect(server.address(), server.authkey()).await.unwrap();
    let bare = no_prelude::BareProxy::create(&client).await.unwrap();
    assert_eq!(bare.add(1, 2).await.unwrap(), 3);
    assert_eq!(bare.get().await.unwrap(), 3);
    assert_eq!(bare.fallible(true).await.unwrap(), Err("no".to_string()));
}

#[tokio::test]
async fn an_interface_without_a_prelude_works() {
    let builder = manager_server::Server::builder().register::<no_prelude_interface::Impl>();
    let (_dir, server) = crate::util::start(builder).await;
    let client = manager_client::Client::connect(server.address(), server.authkey()).await.unwrap();
    let adder = no_prelude_interface::AdderProxy::create(&client).await.unwrap();
    assert_eq!(adder.add(1, 2).await.unwrap(), 3);
    assert_eq!(adder.twice(4).await.unwrap(), 8);
}

#[test]
fn the_macro_and_the_protocol_agree_on_method_ids() {
    // The macro checks collisions with its own copy of the hash; calls use the
    // protocol's. They must agree, or a collision check would be meaningless.
    use manager_client::proto::Dispatch;
    for m in integration_tests::Counter::methods() {
        assert_eq!(m.id, wire::method_id(m.name), "{}", m.name);
    }
}
