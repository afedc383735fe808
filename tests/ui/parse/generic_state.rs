#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut<T> {
        pub by: T,
    }
}

fn main() {}
