€gh1-merkle-sha3-256-1k3
config.json$" U?ùæ»¶eÇ†;“rÜÜ¸Íòcçåò4.¶WÃêj1
data.binˆ'" øõÑb[ÅA¨ i˜ñ&ÂDĞ’±çÎfÌ§ÖßEJ
!weights.safetensors::__metadata__˜" •fyú»8üP¨¯1 7h“BjÖ"¢yèœS„Ç\Ö`
weights.safetensors::b" Ô¥¥N[sGş^ÌûşÕŞ¤X™™Ä‰m›Œ‚* 
I16weights.safetensors Èa
weights.safetensors::w0" ‡—–T•òN·BbVo ºŠ¼ZX·5AQ!anq»ğŞ*!
F32weights.safetensors ˜" /™9¸v½f%Dü3tÊàûèĞÏZC	ó/‘‹î—6