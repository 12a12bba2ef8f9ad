/// Many small short-lived allocations per request (headers, buffers):
/// mimalloc serves them in a fraction of glibc's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[rocket::launch]
fn rocket() -> _ {
    longrun::rocket()
}
