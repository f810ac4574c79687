//! Exercise many runtime paths at once (development smoke test).
use grt::sync::WaitGroup;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    grt::run(|| {
        // spawn
        let t = Instant::now();
        let n = 100_000;
        let wg = Arc::new(WaitGroup::new());
        wg.add(n);
        for _ in 0..n {
            let wg = wg.clone();
            grt::go(move || wg.done());
        }
        wg.wait();
        println!("spawn {n}: {:?}", t.elapsed());

        // pingpong
        let (ping, pong) = (grt::Chan::<u64>::new(0), grt::Chan::<u64>::new(0));
        {
            let (ping, pong) = (ping.clone(), pong.clone());
            grt::go(move || {
                for v in &ping {
                    pong.send(v + 1);
                }
            });
        }
        let t = Instant::now();
        for i in 0..200_000u64 {
            ping.send(i);
            assert_eq!(pong.recv(), Some(i + 1));
        }
        println!("pingpong: {:?}/op", t.elapsed() / 200_000);
        ping.close();

        // select
        let (a, b) = (grt::Chan::<u64>::new(0), grt::Chan::<u64>::new(0));
        for (c, from) in [(a.clone(), 0u64), (b.clone(), 50_000)] {
            grt::go(move || {
                for i in from..from + 50_000 {
                    c.send(i);
                }
            });
        }
        let mut sum = 0;
        for _ in 0..100_000 {
            grt::select! {
                recv(a) -> v => sum += v.unwrap(),
                recv(b) -> v => sum += v.unwrap(),
            }
        }
        assert_eq!(sum, 99_999 * 100_000 / 2);
        println!("select ok");

        // timeout select
        let never = grt::Chan::<u64>::new(0);
        let t = Instant::now();
        grt::select! {
            recv(never) -> _ => panic!("never"),
            recv(grt::time::after(Duration::from_millis(20))) -> _ => {},
        }
        println!("timeout after {:?}", t.elapsed());

        // sleep + gc + syscalls
        let wg = Arc::new(WaitGroup::new());
        for i in 0..4 {
            let wg = wg.clone();
            wg.add(1);
            grt::go(move || {
                for _ in 0..50 {
                    grt::syscall(|| unsafe { libc::usleep(200) });
                }
                grt::time::sleep(Duration::from_millis(5 * i));
                wg.done();
            });
        }
        for _ in 0..20 {
            grt::gc();
        }
        wg.wait();
        println!("gc cycles: {}", grt::numgc());
        grt::gomaxprocs(4);
        grt::gc();
        grt::gomaxprocs(1);
        grt::gc();
        println!("done, goroutines={}", grt::num_goroutine());
    })
}
