#[rocket::launch]
fn rocket() -> _ {
    longrun::rocket()
}
