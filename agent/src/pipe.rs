//! Output piped into a reader that stops early (`drover runs list | head`): Rust ignores
//! SIGPIPE, so `println!` panics on the closed pipe. Both binaries end quietly instead, as a
//! Unix tool does.

/// Installs a panic hook that ends the process with status 0, printing nothing, when the
/// panic is a write to a closed stdout; every other panic goes to the previous hook.
pub fn exit_quietly_on_broken_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_broken_pipe(message) {
            std::process::exit(0);
        }
        previous(info);
    }));
}

/// Whether an error that ends a command is a write to a closed pipe, which is no failure:
/// the reader had read all it wanted.
pub fn is_broken_pipe_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Whether a panic message is the standard library's for printing to a closed pipe.
fn is_broken_pipe(message: &str) -> bool {
    message.starts_with("failed printing to std") && message.contains("Broken pipe")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_closed_pipe_panic_is_recognised() {
        assert!(super::is_broken_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!super::is_broken_pipe("index out of bounds"));
        assert!(!super::is_broken_pipe(
            "failed printing to stdout: Disk quota exceeded"
        ));
    }
}
