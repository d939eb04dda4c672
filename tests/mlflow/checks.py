"""What the end-to-end scripts share: expecting an MLflow error code."""
from mlflow.exceptions import MlflowException


def expect_error(code, fn, *args, **kwargs):
    """Calls fn, which must fail with MLflow error `code`; answers the message."""
    try:
        fn(*args, **kwargs)
    except MlflowException as e:
        assert e.error_code == code, (e.error_code, str(e))
        return str(e)
    raise AssertionError(f"expected {code}")
