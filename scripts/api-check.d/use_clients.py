"""Uses the clients generated from the committed specs, unedited, against a live devnet: the
node's read side and the quote service's pricing. Arguments: node URL, quote service URL."""

import sys

from coordination_node_client import Client as NodeClient
from coordination_node_client.api.chain import get_epoch, list_claims
from coordination_node_client.api.operations import healthz, readyz
from coordination_node_client.api.quotes import get_quote, list_quotes
from coordination_node_client.models import ClaimPage, EpochView, ListQuotesStatus, QuotePage
from quote_service_client import Client as QuoteClient
from quote_service_client.api.quotes import post_quote
from quote_service_client.models import ErrorBody, QuoteRequest, QuoteResponse

node_url, quote_service_url = sys.argv[1], sys.argv[2]
node = NodeClient(base_url=node_url, raise_on_unexpected_status=True)

assert healthz.sync(client=node).status == "ok"
assert readyz.sync_detailed(client=node).status_code == 200
epoch = get_epoch.sync(client=node, epoch=0)
assert isinstance(epoch, EpochView) and epoch.state.value == "proven", epoch
page = list_quotes.sync(client=node, epoch=0, status=ListQuotesStatus.ALL, limit=10)
assert isinstance(page, QuotePage) and page.quotes, page
winner = next(q for q in page.quotes if q.status.value == "proven")
again = get_quote.sync(client=node, id=winner.id)
assert again.id == winner.id and again.claim is not None, again
claims = list_claims.sync(client=node, prover=winner.prover, limit=500)
assert isinstance(claims, ClaimPage) and any(c.quote_id == winner.id for c in claims.claims), claims
print(f"node client: epoch 0 {epoch.state.value}, {len(page.quotes)} quotes, won by {winner.id} at "
      f"{winner.basis_point_fee} bps")

quotes = QuoteClient(base_url=quote_service_url, raise_on_unexpected_status=True)
request = QuoteRequest(epoch_number="5", from_block="9", end_block="10", tx_count="40",
                       total_fees="1000000000000000000")
answer = post_quote.sync(client=quotes, body=request)
if isinstance(answer, QuoteResponse):
    print(f"quote service client: {answer.basis_point_fee} bps, bond {answer.bond_amount}")
else:
    # A decline by policy is an answer too: typed, with its code.
    assert isinstance(answer, ErrorBody) and answer.code, answer
    print(f"quote service client: declined ({answer.code})")
