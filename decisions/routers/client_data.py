"""/clients/{client_id}/data: everything the feature store holds about a client, for the
client themself (their right of access) and the people who handle their file."""

from __future__ import annotations

import csv
import io
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from decisions.access import reads_client
from decisions.auth import Caller, authenticated
from decisions.dependencies import Services
from decisions.users import ADVISOR, CLIENT, SUPERVISOR

router = APIRouter(prefix="/clients", tags=["clients"], dependencies=[Depends(authenticated)])
DataReader = Annotated[Caller, Depends(reads_client("data", ADVISOR, SUPERVISOR, CLIENT))]


def _plain(value: Any) -> Any:
    """A stored value as JSON takes it: numpy scalars unwrapped, NaN as null."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


@router.get("/{client_id}/data", responses={200: {"content": {"text/csv": {}}}})
def data(client_id: int, services: Services, _: DataReader,
         format: Literal["json", "csv"] = "json") -> Response:
    """Every stored field of the client (application and history, by Kaggle column name),
    as JSON or as a two-column CSV (``field,value``) to download. A client reads their own."""
    row = services.gateway.stored(client_id)
    fields = {str(name): _plain(value) for name, value in row.items()}
    if format == "json":
        return JSONResponse({"client_id": client_id, "fields": fields})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["field", "value"])
    writer.writerows([name, "" if value is None else value] for name, value in fields.items())
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="client-{client_id}.csv"'})
