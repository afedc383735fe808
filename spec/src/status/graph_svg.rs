//! The session graph as an SVG, laid out from [`GRAPH`](crate::graph::session::GRAPH) alone, so
//! a state or edge added to the graph is drawn without touching this file.
//!
//! Layout: states are placed in columns by their longest distance from an entrypoint along
//! the graph's forward edges (edges back to a state on the current depth-first path are drawn
//! as arcs above the boxes instead); an entrypoint that only leads further right is pulled up
//! to the column just before its first successor. Each state's box carries its count, in an
//! element with id `count-<State>` that the page updates.

use std::collections::HashMap;
use std::fmt::Write as _;

use statebound::Graph;

const BOX_W: i32 = 172;
const BOX_H: i32 = 58;
const COL: i32 = 300;
const ROW: i32 = 140;
const LEFT: i32 = 40;
const ARC: i32 = 34;

struct Placed {
    name: &'static str,
    rank: i32,
    row: i32,
}

/// Columns and rows of every state, and which edges go back.
fn layout(graph: &Graph) -> (Vec<Placed>, Vec<bool>) {
    let names: Vec<&str> = graph.states.iter().map(|s| s.name).collect();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let edges: Vec<(usize, usize)> = graph
        .transitions
        .iter()
        .map(|t| (index[t.from], index[t.to]))
        .collect();
    // Depth-first from the entrypoints: an edge to a state on the current path goes back.
    let mut back = vec![false; edges.len()];
    let mut mark = vec![0u8; names.len()]; // 0 unseen, 1 on the path, 2 done
    let mut roots: Vec<usize> = graph.entrypoints.iter().map(|e| index[e.state]).collect();
    roots.extend(0..names.len());
    for root in roots {
        if mark[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        mark[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let out = edges
                .iter()
                .enumerate()
                .filter(|(_, (from, _))| *from == node)
                .nth(*next);
            *next += 1;
            match out {
                Some((e, &(_, to))) => match mark[to] {
                    0 => {
                        mark[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                },
                None => {
                    mark[node] = 2;
                    stack.pop();
                }
            }
        }
    }
    // Longest forward distance; the forward edges form a DAG, so |states| rounds settle it.
    let mut rank = vec![0i32; names.len()];
    for _ in 0..names.len() {
        for (e, &(from, to)) in edges.iter().enumerate() {
            if !back[e] && rank[to] < rank[from] + 1 {
                rank[to] = rank[from] + 1;
            }
        }
    }
    for entry in graph.entrypoints {
        let i = index[entry.state];
        let incoming = edges.iter().zip(&back).any(|(&(_, to), b)| to == i && !b);
        let first = edges
            .iter()
            .zip(&back)
            .filter(|&(&(from, _), &b)| from == i && !b)
            .map(|(&(_, to), _)| rank[to])
            .min();
        if let (false, Some(first)) = (incoming, first) {
            rank[i] = rank[i].max(first - 1);
        }
    }
    let mut used: HashMap<i32, i32> = HashMap::new();
    let placed = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let row = used.entry(rank[i]).or_insert(0);
            let placed = Placed {
                name,
                rank: rank[i],
                row: *row,
            };
            *row += 1;
            placed
        })
        .collect();
    (placed, back)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The graph as an SVG document fragment, each state showing `count(state)`.
pub(crate) fn render(graph: &Graph, count: impl Fn(&str) -> i64) -> String {
    let (placed, back) = layout(graph);
    let at: HashMap<&str, &Placed> = placed.iter().map(|p| (p.name, p)).collect();
    let longest_back = graph
        .transitions
        .iter()
        .zip(&back)
        .filter(|(_, b)| **b)
        .map(|(t, _)| at[t.from].rank - at[t.to].rank)
        .max()
        .unwrap_or(0);
    let top = 40 + ARC * longest_back.max(1);
    let x = |p: &Placed| LEFT + p.rank * COL;
    let y = |p: &Placed| top + p.row * ROW;
    let cols = placed.iter().map(|p| p.rank).max().unwrap_or(0) + 1;
    let rows = placed.iter().map(|p| p.row).max().unwrap_or(0) + 1;
    let width = LEFT + cols * COL;
    let height = top + rows * ROW;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"graph\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{} state graph\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>",
        escape(graph.name)
    );
    for (t, is_back) in graph.transitions.iter().zip(&back) {
        let (from, to) = (at[t.from], at[t.to]);
        let label = escape(t.name);
        if *is_back {
            let span = from.rank - to.rank;
            let (x1, x2) = (x(from) + BOX_W / 2 - 12, x(to) + BOX_W / 2 + 12);
            let y0 = y(from).min(y(to));
            let peak = y0 - ARC * span;
            let mid = (x1 + x2) / 2;
            let _ = write!(
                svg,
                "<path class=\"edge back\" d=\"M {x1} {y0} C {x1} {peak}, {x2} {peak}, {x2} {y0}\" \
                 fill=\"none\" stroke=\"#777\" marker-end=\"url(#arrow)\"/>\
                 <text class=\"edge-label\" x=\"{mid}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
                y0 - ARC * span * 3 / 4 - 4
            );
        } else {
            let (x1, y1) = (x(from) + BOX_W, y(from) + BOX_H / 2);
            let (x2, y2) = (x(to), y(to) + BOX_H / 2);
            let _ = write!(
                svg,
                "<line class=\"edge\" x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" \
                 stroke=\"#555\" marker-end=\"url(#arrow)\"/>\
                 <text class=\"edge-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
                (x1 + x2) / 2,
                (y1 + y2) / 2 + if y1 == y2 { -6 } else { 16 }
            );
        }
    }
    for entry in graph.entrypoints {
        let p = at[entry.state];
        let (cx, cy) = (x(p) - 18, y(p) + BOX_H + 14);
        let _ = write!(
            svg,
            "<circle class=\"entry\" cx=\"{cx}\" cy=\"{cy}\" r=\"5\" fill=\"#333\"/>\
             <text class=\"entry-label\" x=\"{}\" y=\"{}\">{} entry</text>",
            cx + 9,
            cy + 4,
            escape(entry.role)
        );
    }
    for p in &placed {
        let name = escape(p.name);
        let n = count(p.name);
        let _ = write!(
            svg,
            "<g class=\"state{}\" data-state=\"{name}\">\
             <rect x=\"{}\" y=\"{}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"9\"/>\
             <text class=\"state-name\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{name}</text>\
             <text class=\"count\" id=\"count-{name}\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{n}</text></g>",
            if n > 0 { " occupied" } else { "" },
            x(p),
            y(p),
            x(p) + BOX_W / 2,
            y(p) + 22,
            x(p) + BOX_W / 2,
            y(p) + 47,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::session::GRAPH;

    #[test]
    fn every_state_and_edge_is_drawn_with_its_count() {
        let svg = render(&GRAPH, |s| i64::from(s == "Connected") * 3);
        for state in GRAPH.states {
            assert!(
                svg.contains(&format!("id=\"count-{}\"", state.name)),
                "{}",
                state.name
            );
        }
        assert!(svg.contains("id=\"count-Connected\" x="));
        assert!(svg.contains(">3</text>"));
        assert_eq!(
            svg.matches("<line class=\"edge\"").count()
                + svg.matches("<path class=\"edge back\"").count(),
            GRAPH.transitions.len(),
            "one line or arc per edge"
        );
    }

    #[test]
    fn the_client_cycle_reads_left_to_right_and_losses_go_back() {
        let (placed, back) = layout(&GRAPH);
        let rank = |n: &str| placed.iter().find(|p| p.name == n).unwrap().rank;
        assert!(rank("NoConnection") < rank("BackingOff"));
        assert!(rank("BackingOff") < rank("Connecting"));
        assert!(rank("Handshaking") < rank("Connected"));
        assert_eq!(rank("WaitingForHandshake") + 1, rank("Connected"));
        for (t, b) in GRAPH.transitions.iter().zip(&back) {
            assert_eq!(*b, t.to == "NoConnection", "{} {}", t.from, t.name);
        }
    }
}
