"""What a customer may attach as evidence: small files of a few known types, checked by their
content, not only by their name; and how an attachment is served back."""

from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse

from upgrades.models import ItemAttachment

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES_PER_ITEM = 10

# extension -> (content type, how the content must start, or None for text)
ACCEPTED = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".txt": ("text/plain", None),
    ".log": ("text/plain", None),
    ".csv": ("text/csv", None),
}


def accepted_extensions() -> str:
    return ", ".join(sorted(ACCEPTED))


def check_upload(upload: UploadedFile) -> dict:
    """The attachment's fields, or a ValidationError that says what is wrong with it."""
    name = PurePath(upload.name or "").name[:200]
    extension = PurePath(name).suffix.lower()
    if extension not in ACCEPTED:
        raise ValidationError({"files": f"“{name}” is not a file type we accept ({accepted_extensions()})."})
    if upload.size > MAX_BYTES:
        raise ValidationError({"files": f"“{name}” is {upload.size / 1048576:.1f} MB: files may be up to 5 MB."})
    content = upload.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise ValidationError({"files": f"“{name}” is larger than 5 MB."})
    content_type, magic = ACCEPTED[extension]
    if magic is not None and not content.startswith(magic):
        raise ValidationError({"files": f"“{name}” does not contain what its name says ({extension})."})
    if magic is None:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"files": f"“{name}” is not a plain text file."}) from None
    return {"name": name, "content_type": content_type, "size": len(content), "content": content}


def download(attachment: ItemAttachment) -> HttpResponse:
    """The attachment as a download, never rendered by the browser in the portal's origin."""
    response = HttpResponse(bytes(attachment.content), content_type=attachment.content_type)
    response["Content-Disposition"] = f'attachment; filename="{attachment.name.replace(chr(34), "")}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
