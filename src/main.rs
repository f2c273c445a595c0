fn main() {
    println!("identity-os");
}
