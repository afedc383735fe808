//! "Did you mean" for names the user got slightly wrong.

/// The candidate closest to `wrong`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a, I>(wrong: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (wrong.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != wrong)
        .map(|c| (distance(&wrong.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `message` with "; did you mean `x`?" appended when a close candidate exists.
pub(crate) fn with_suggestion<'a, I>(message: String, wrong: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(wrong, candidates) {
        Some(near) => format!("{message}; did you mean `{near}`?"),
        None => message,
    }
}

/// Optimal string alignment distance: edits, with a swap of two neighbours counting as one.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("Connected", "Connected"), 0);
        assert_eq!(distance("Conected", "Connected"), 1);
        assert_eq!(distance("Cnonected", "Connected"), 1);
        assert_eq!(distance("abc", ""), 3);
    }

    #[test]
    fn suggestions() {
        let states = ["Connected", "Connecting", "NoConnection"];
        assert_eq!(closest("Conected", states), Some("Connected"));
        assert_eq!(closest("connecting", states), Some("Connecting"));
        assert_eq!(closest("Handshaking", states), None);
        assert_eq!(
            with_suggestion("unknown state `Conected`".into(), "Conected", states),
            "unknown state `Conected`; did you mean `Connected`?"
        );
    }
}
