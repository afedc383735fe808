#[statebound::machine]
mod door {
    #[context]
    pub struct Door<T> {
        pub owner: T,
    }

    #[state]
    #[entry(install)]
    pub struct Shut;
}

fn main() {}
