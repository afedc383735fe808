#[statebound::machine]
mod door {
    #[state]
    #[entry(install)]
    pub struct Shut;

    #[state]
    pub enum Open {
        Wide,
        Ajar,
    }
}

fn main() {}
