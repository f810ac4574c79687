//! Smallest grt program: a goroutine sends, main receives.
fn main() {
    grt::run(|| {
        let c = grt::Chan::new(0);
        let c2 = c.clone();
        grt::go(move || {
            for i in 0..10 {
                c2.send(i);
            }
            c2.close();
        });
        let sum: i32 = c.iter().sum();
        println!("sum={sum} goroutines={} gomaxprocs={}", grt::num_goroutine(), grt::gomaxprocs(0));
    })
}
