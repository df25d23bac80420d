"""The interactive docs page and its files, served by the product itself"""
import requests


def test_docs_page_loads_its_files_from_this_server(server):
    page = requests.get(server.api + '/docs', timeout=10)

    assert page.status_code == 200
    assert page.headers['Content-Type'].startswith('text/html')
    for path in ['docs/swagger-ui.css', 'docs/swagger-ui-bundle.js',
            'docs/docs.js']:
        assert f'"{path}"' in page.text
        asset = requests.get(f'{server.api}/{path}', timeout=10)
        assert asset.status_code == 200, path
        assert asset.content, path


def test_docs_page_with_trailing_slash_redirects(server):
    response = requests.get(
        server.api + '/docs/', allow_redirects=False, timeout=10)

    assert response.status_code == 308
    assert response.headers['Location'].endswith('/api/v1/crm/docs')


def test_docs_redirect_keeps_query_string(server):
    response = requests.get(
        server.api + '/docs/?x=1', allow_redirects=False, timeout=10)

    assert response.status_code == 308
    assert response.headers['Location'].endswith('/api/v1/crm/docs?x=1')
